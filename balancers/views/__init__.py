"""The balancers app's pages, one module per noun: thin doors into balancers.services (writes) and
balancers.selectors (reads). None of them opens SSH, speaks HTTP to a front-end or builds Apache text."""
