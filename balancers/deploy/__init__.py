"""Getting rendered trees onto the front-ends: `release` (one host: stage -> swap -> configtest -> reload
-> verify -> restore, on a Transport), `leases` (one deployment per front-end at a time), `runner` (the
worker's body: a Deployment across every front-end, every step a row) and `checks` (read-only drift,
pending diff, connection test). Writes that start deployments are in balancers.services."""
