// HostPanel's test project: Volto as it is, with one change. Volto's server answers /++api++ itself by
// proxying to Zope (its development proxy, on in production builds too, falling back to
// RAZZLE_INTERNAL_API_PATH); behind a front-end that proxy hides a config that forgets the ++api++ rule and
// keeps the first Host name it saw. Here it is off unless RAZZLE_DEV_PROXY_API_PATH is given at run time
// (devrig.volto.VoltoServer(dev_proxy=...), to show that failure), so a request for /++api++ that reaches
// Node gets no API answer.
export default function applyConfig(config) {
  config.settings.devProxyToApiPath = process.env.RAZZLE_DEV_PROXY_API_PATH || '';
  return config;
}
