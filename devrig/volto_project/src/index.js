// The server entry: Volto's own server, unchanged.
import start from '@plone/volto/start-server';

const reloadServer = start();

if (module.hot) {
  reloadServer();
}
