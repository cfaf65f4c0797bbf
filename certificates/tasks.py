"""Background jobs of the certificates app (Django's tasks framework, like balancers/tasks.py).

`renew_certificates` is the periodic scan: run it every minute or so (a worker loop or cron enqueueing
it); it orders what is due through the registered front-ends publisher (certificates.publishing).
"""

from __future__ import annotations

import logging

from django.tasks import task

from certificates.publishing import frontends_publisher
from certificates.services import certificates_run_due

log = logging.getLogger(__name__)


@task()
def renew_certificates(limit: int = 20) -> int:
    """One scan; returns the number of ACME attempts made (0 while no publisher is registered)."""
    publisher = frontends_publisher()
    if publisher is None:
        log.warning("no front-ends publisher registered: certificates are not ordered yet")
        return 0
    return len(certificates_run_due(frontends_publisher=publisher, limit=limit))
