"""Live state of the front-ends: `parse` (pure: balancer-manager bytes -> records) and `client` (the one
HTTP client: balancer-manager reads, live member changes, URL checks). The dashboard's read model, which
joins this with the database, is balancers.selectors.overview."""
