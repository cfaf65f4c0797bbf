"""Getting rendered trees onto the front-ends, and never leaving a stuck or lying row: `runner` (the
worker's body: a Deployment across every front-end), `host` (one front-end: fenced lease, isolated
render, push with retries, the activated release), `rendering`, `release` and `swap` (one host on a
Transport: compare the activated release -> upload -> swap -> configtest -> reload -> verify, restore on
any exception), `leases` (fenced, with a heartbeat), `queue` (hand-over bookkeeping), `reaper`,
`retention` and `checks` (read-only drift, pending diff, connection test). Writes that start deployments
are in balancers.services; docs/reliability.md says what each fault leaves behind."""
