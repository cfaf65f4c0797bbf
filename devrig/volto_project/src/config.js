// HostPanel's test project: Volto as it is, with one change. Volto's server answers /++api++ itself by
// proxying to Zope (its development proxy, on in production builds too); behind a front-end that proxy
// hides a config that forgets the ++api++ rule and keeps the first Host name it saw. Turned off here, so
// a request for /++api++ that reaches Node fails loudly (404) instead of seeming to work.
export default function applyConfig(config) {
  config.settings.devProxyToApiPath = '';
  return config;
}
