"""The ACME worker: `manage.py renew_certificates --loop` (bin/run starts it when HOSTPANEL_ACME_DIRECTORY
is set).

    with WakeListener(ACME) as wake:
        acme_worker_run(wake=wake, scan_seconds=60, batch_seconds=2.0, limit=50)

Each round is one renewal_scan (certificates.tasks): it orders whatever is due. A round starts

- the moment a certificate becomes due (certificates.wake sends a datagram to `wake`): a new ACME site's
  order starts when the site is saved;
- every `scan_seconds` anyway: renewals, retries after the backoff, and the safety net for a wake-up
  that never arrived (a worker on another machine, a worker restarted meanwhile);
- at once again when a round reached `limit` (more is due than one round orders).

What a round issued goes live in ONE automatic deployment at its end (certificates.services.CertificateBatch:
one graceful reload per front-end per batch), at once when nothing more is due, so a lone new site waits
for nobody. While more becomes due (a burst of new sites), the batch stays open for the next round, at most
`batch_seconds` from its first certificate: the window is checked after every order, so a long burst goes
live every `batch_seconds`. The deploy leases (deploy.leases) keep at most one reload in flight per
front-end whatever the batches do, and a batch published while a deployment is still queued joins it. A batch
still open when the worker stops (SIGTERM, Ctrl-C, `rounds` reached) is published before it returns.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from certificates.services import CertificateBatch
from certificates.tasks import ScanResult, renewal_scan
from deploy.wake import WakeListener


def acme_worker_run(
    *,
    wake: WakeListener,
    scan_seconds: float,
    batch_seconds: float,
    limit: int,
    rounds: int = 0,
    should_stop: Callable[[], bool] = lambda: False,
    on_round: Callable[[ScanResult], None] = lambda result: None,
) -> CertificateBatch:
    """Run rounds until `rounds` were done (0: forever) or should_stop() says so; returns the batch
    (its `deployments` counts how many times certificates were put live)."""
    batch = CertificateBatch(batch_seconds)
    done = 0
    try:
        while not should_stop():
            started = time.monotonic()
            result = renewal_scan(limit, batch=batch)
            done += 1
            on_round(result)
            if rounds and done >= rounds:
                return batch
            if result.attempts >= limit:
                continue  # more is due than one round orders
            if batch.pending:
                if batch.remaining() > 0 and wake.wait(0):
                    continue  # more became due during the round: ordered now, it joins the open batch
                batch.publish()
            wake.wait(max(started + scan_seconds - time.monotonic(), 0.0))  # woken, or the scan is due
        return batch
    finally:
        batch.publish()
