"""All reads shared by pages, the API and commands: `overview` (the dashboard's live + intended state),
`deployments` (progress, diffs, pending changes), `inventory` (front-ends by name, counts)."""
