// Volto's own razzle configuration, unchanged (the project has no add-ons and no theme of its own).
module.exports = require('@plone/volto/razzle.config');
