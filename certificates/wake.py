"""Starting an order the moment a certificate is due, instead of at the next scan.

    certificates_wake()   # inside the writing transaction; acts once it commits

Called by certificates.follow (a site created or changed with tls=acme, its names changed, ordering
resumed) and by sites.services.site_certificate_renew ("Renew now"). What it does depends on the task
backend (HOSTPANEL_TASKS_BACKEND):

- db (default): one datagram to every ACME worker on this machine (`manage.py renew_certificates --loop`
  listening on deploy.wake's ACME channel), which orders at once. A worker on another machine finds the
  certificate at its next scan (HOSTPANEL_ACME_SCAN_SECONDS).
- rq / immediate: the `order_due_certificates` task is enqueued (an RQ worker takes it at once; the
  immediate backend orders in the same process, right after the commit).

Without a CA (HOSTPANEL_ACME_DIRECTORY empty) nothing happens. A wake is only "look now": the worker
orders what certificates_due() says is due, so a site in its backoff is not ordered early.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction

from certificates.tasks import order_due_certificates
from deploy.wake import ACME, notify_workers

log = logging.getLogger(__name__)


def certificates_wake() -> None:
    """Wake the ACME worker once the current transaction commits (at once outside one); once per
    transaction, however many sites it changed (an import of 1,000 sites is one look, not 1,000)."""
    if not settings.HOSTPANEL_ACME_DIRECTORY:
        return
    connection = transaction.get_connection()
    if connection.in_atomic_block and any(func is _wake for _, func, _ in connection.run_on_commit):
        return
    transaction.on_commit(_wake, robust=True)


def _wake() -> None:
    if settings.TASKS_BACKEND == "db":
        if notify_workers(ACME) == 0:
            log.info("no ACME worker listening on this machine: the order starts at the next scan")
        return
    order_due_certificates.enqueue()
