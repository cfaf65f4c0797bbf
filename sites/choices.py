from django.db import models


class SiteStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"


class SiteTls(models.TextChoices):
    ACME = "acme", "Certificate from the panel's ACME CA"
    CUSTOM = "custom", "Customer's own certificate"
    NONE = "none", "HTTP only"


HSTS_MAX_SECONDS = 2 * 365 * 24 * 3600  # two years: browsers cap max-age there anyway
