// The browser entry: Volto's own client, unchanged.
import client from '@plone/volto/start-client';

client();

if (module.hot) {
  module.hot.accept();
}
