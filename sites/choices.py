from django.db import models


class SiteStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"


class SiteTls(models.TextChoices):
    ACME = "acme", "Certificate from the panel's ACME CA"
    CUSTOM = "custom", "Customer's own certificate"
    NONE = "none", "HTTP only"


HSTS_MAX_SECONDS = 2 * 365 * 24 * 3600  # two years: browsers cap max-age there anyway


class ManageAccess(models.TextChoices):
    """Who reaches the site's Zope management interface (ZMI: any path segment manage, manage_main,
    manage_*), and the ZPublisher `name:method` / `name:action` form of it in the query string."""

    PUBLIC = "public", "Public (Zope's own login decides)"
    STAFF = "staff", "Staff networks only (403 for others)"
    BLOCKED = "blocked", "Blocked (403 for everyone)"


class SiteKind(models.TextChoices):
    """How a site is served (docs/plone6-facts.md)."""

    CLASSIC = "classic", "Classic UI (Zope renders every page)"
    VOLTO = "volto", "Volto (Node.js frontend, /++api++ to Zope)"
    FRONTEND_ONLY = "frontend_only", "Frontend only (everything to the Node.js frontend)"
