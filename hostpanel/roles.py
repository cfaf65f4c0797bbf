"""The panel's two roles (Django groups, created on every migrate): `operators` may change things,
`viewers` only look. Superusers count as operators. A module without imports, so app loading can use it."""

OPERATORS = "operators"
VIEWERS = "viewers"
