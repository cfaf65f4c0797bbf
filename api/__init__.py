"""The REST API (/api/v1/). One package per area, each a serializers + views pair: sites, certificates,
infrastructure (Zope servers, front-ends, balancers, members), deployments, status, operations (rolling
restarts), alerts; base/ is what every door shares (ApiMixin, the deployment id, the delete answer) and docs/
serves the schema. Beside them the plumbing: auth, permissions, throttling, idempotency, errors, schema,
readmodels (serializers from TypedDicts), and the API tokens (models, services, admin, create_api_token)."""
