// The store's reducers: Volto's own, unchanged.
import defaultReducers from '@plone/volto/reducers';

const reducers = {
  ...defaultReducers,
};

export default reducers;
