"""Traffic metering on real parts: three front-ends (each a real sshd + Apache with mod_ssl, the rendered tree
with the usage log and rotatelogs rotating every 2 s), a bounded load over HTTP and HTTPS for several sites
and aliases, and names no site claims. The clients count every byte they put on and took off the wire
(raw sockets; for HTTPS the TLS records themselves, handshake included, as mod_logio counts them). After
rotation, a collection that crashes after the commit of the first file while one front-end is down, and a
second one that catches up, requests and bytes per site equal what the clients counted, nothing twice."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from django.db.models import Sum

from balancers import services as balancer_services
from balancers.choices import DeploymentStatus
from balancers.services import deployment_start
from devrig.fleet import build_fleet, make_client_key
from metering import collect
from metering.collect import collect_usage
from metering.models import CollectedFile, CollectionState, UsageHour
from sites import services as site_services
from tests.factories import ACTOR, give_certificate
from tests.realparts import require_binary

pytestmark = [pytest.mark.real]

ROTATE = 2  # seconds: HOSTPANEL_USAGE_ROTATE_SECONDS for this test


@dataclass
class Counted:
    status: int
    sent: int  # bytes the client put on the wire (TLS records for HTTPS)
    received: int  # bytes it took off the wire, up to the end of the response (before any close_notify)


def _request(host: str, path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: usage-test\r\nConnection: close\r\n\r\n".encode()


def _status(head: bytes) -> int:
    return int(head.split(b" ", 2)[1])


def http_counted(port: int, host: str, path: str) -> Counted:
    """One request per connection, counting the raw bytes both ways (the server closes after the response)."""
    request = _request(host, path)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        answer = bytearray()
        while chunk := sock.recv(65536):
            answer += chunk
    return Counted(_status(bytes(answer)), len(request), len(answer))


def https_counted(port: int, host: str, path: str, root_pem: str) -> Counted:
    """Like http_counted over TLS (SNI = host, verified against root_pem), counting the TLS records on the
    wire: every one sent, and every one received up to the server's close_notify (which Apache sends after
    it logged the request, so mod_logio does not count it)."""
    context = ssl.create_default_context(cadata=root_pem)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=host)
    sent = received = 0
    raw = bytearray()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:

        def flush() -> None:
            nonlocal sent
            data = outgoing.read()
            if data:
                sock.sendall(data)
                sent += len(data)

        def next_record() -> bytes | None:
            while len(raw) < 5 or len(raw) < 5 + int.from_bytes(raw[3:5]):
                chunk = sock.recv(65536)
                if not chunk:
                    return None
                raw.extend(chunk)
            size = 5 + int.from_bytes(raw[3:5])
            record = bytes(raw[:size])
            del raw[:size]
            return record

        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                flush()
                record = next_record()
                assert record is not None, "the server closed during the handshake"
                incoming.write(record)
                received += len(record)
        flush()
        tls.write(_request(host, path))
        flush()
        plain = bytearray()
        closed = False
        while not closed and (record := next_record()) is not None:
            incoming.write(record)
            try:
                while True:
                    chunk = tls.read(65536)
                    if not chunk:  # close_notify (the ssl module reads it as the end): not part of the request
                        closed = True
                        break
                    plain += chunk
            except ssl.SSLWantReadError:
                pass  # a record without application data (a session ticket) or only part of one
            except ssl.SSLZeroReturnError:
                closed = True
            if not closed:
                received += len(record)
            flush()
    return Counted(_status(bytes(plain)), sent, received)


def totals() -> dict[str, Counter]:
    rows = UsageHour.objects.values("site__domain").annotate(r=Sum("requests"), i=Sum("bytes_in"), o=Sum("bytes_out"))
    return {row["site__domain"]: Counter(requests=row["r"], bytes_in=row["i"], bytes_out=row["o"]) for row in rows}


def test_requests_and_bytes_per_site_equal_what_the_clients_counted_exactly_once(
    transactional_db, tmp_path, settings, apache_factory, backend_factory, test_pki, secrets_key, monkeypatch
):
    require_binary("sshd")
    require_binary("apache2")
    require_binary("rotatelogs")
    started = time.monotonic()
    key = make_client_key(tmp_path / "panel")
    settings.HOSTPANEL_SSH_KEY = str(key)
    settings.HOSTPANEL_SSH_TIMEOUT = 5
    settings.HOSTPANEL_AUTO_DEPLOY = False
    settings.HOSTPANEL_USAGE_ROTATE_SECONDS = ROTATE
    fleet = build_fleet(tmp_path, apache_factory, backend_factory, frontends=3, client_key=key)
    try:
        plain = {
            "alpha.example": ["www.alpha.example"],
            "beta.example": ["beta.example.net"],
        }
        tls = {"gamma.example": ["www.gamma.example"], "delta.example": []}
        for domain, aliases in {**plain, **tls}.items():
            site = site_services.site_create(
                actor=ACTOR, domain=domain, aliases=aliases, balancer=fleet.balancer, plone_path="/plone/x"
            )
            if domain in tls:
                give_certificate(site, test_pki)
        suspended = site_services.site_create(
            actor=ACTOR, domain="omega.example", balancer=fleet.balancer, plone_path="/plone/omega"
        )
        site_services.site_suspend(suspended, actor=ACTOR, reason="unpaid")
        for host in fleet.hosts:
            balancer_services.frontend_update(
                host.frontend, actor=ACTOR, usage_log_dir=str(tmp_path / host.name / "usage")
            )
        deployment = deployment_start(actor=ACTOR)
        deployment.refresh_from_db()
        assert deployment.status == DeploymentStatus.SUCCEEDED, [h.error for h in deployment.hosts.all()]

        # the deployment's own probes went through the front-ends too: collected first, as the baseline
        time.sleep(2 * ROTATE + 0.5)
        assert collect_usage().failures == []
        baseline = totals()
        unknown_before = sum(CollectedFile.objects.values_list("unknown_lines", flat=True))  # the probes' made-up name

        # the load: every front-end, every name of every site, HTTP and (for the TLS sites) HTTPS
        jobs = []
        for host in fleet.hosts:
            for domain, aliases in {**plain, **tls}.items():
                for name in [domain, *aliases]:
                    for n in range(6):
                        jobs.append((host, domain, name, f"/page/{n}/{'x' * (n * 37)}", "http"))
                        if domain in tls:
                            jobs.append((host, domain, name, f"/secure/{n}?q={'y' * (n * 11)}", "https"))
            for n in range(5):
                jobs.append((host, None, "nobody.example", f"/scan/{n}", "http"))
                # Apache's own 503 page (an internal redirect to the ErrorDocument): logged once, for the site
                jobs.append((host, "omega.example", "omega.example", f"/closed/{n}", "http"))
        expected: dict[str, Counter] = {}
        lock = threading.Lock()

        def run(job) -> None:
            host, domain, name, path, scheme = job
            if scheme == "http":
                counted = http_counted(host.http_port, name, path)
            else:
                counted = https_counted(host.https_port, name, path, test_pki.root_pem)
            # a TLS site's certificate covers all its names: HTTP answers 301 to https://, HTTPS proxies
            wanted = (
                404
                if not domain
                else 503
                if domain == "omega.example"
                else 301
                if (domain in tls and scheme == "http")
                else 200
            )
            assert counted.status == wanted, (host.name, name, scheme, counted, host.apache.error_log()[-1500:])
            if domain:
                with lock:
                    total = expected.setdefault(domain, Counter())
                    total.update(requests=1, bytes_in=counted.sent, bytes_out=counted.received)

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(run, jobs))
        # 4 plain names, 3 TLS names over HTTP and HTTPS, 5 requests to the suspended site, per front-end
        assert sum(c["requests"] for c in expected.values()) == 3 * (4 * 6 + 3 * 6 * 2 + 5)
        time.sleep(2 * ROTATE + 0.5)  # rotatelogs has moved on from every file holding the load

        # collection 1: fe3 is down, and the collector dies after the commit of fe1's first file
        fe3 = fleet.host("fe3")
        fe3.sshd.stop()
        real_remove, crashed = collect._remove, []

        def crash_once(transport, path):
            if not crashed:
                crashed.append(path)
                raise RuntimeError("collector killed between the commit and the removal")
            real_remove(transport, path)

        monkeypatch.setattr(collect, "_remove", crash_once)
        first = collect_usage()
        failures = dict(f.split(": ", 1) for f in first.failures)
        assert set(failures) == {"fe1", "fe3"}, first.failures
        assert "killed between" in failures["fe1"] and "fe3" not in [r.frontend for r in first.frontends if r.counted]
        assert CollectionState.objects.get(frontend__name="fe3").error
        counted_not_removed = CollectedFile.objects.get(frontend__name="fe1", removed_at__isnull=True)
        assert crashed == [f"{tmp_path}/fe1/usage/{counted_not_removed.name}"]

        # collection 2: fe3 is back; fe1's counted file is removed without counting it again
        monkeypatch.setattr(collect, "_remove", real_remove)
        fe3.sshd.start()
        second_started = datetime.datetime.now(datetime.UTC)
        second = collect_usage()
        assert second.failures == [], second.failures
        assert {r.frontend for r in second.frontends if r.counted} >= {"fe3"}
        assert next(r for r in second.frontends if r.frontend == "fe1").removed_only >= 1

        got = totals()
        assert {domain: got[domain] - baseline.get(domain, Counter()) for domain in got} == expected
        statuses = UsageHour.objects.aggregate(ok=Sum("status_2xx"), moved=Sum("status_3xx"))
        probes = sum(c["requests"] for c in baseline.values() if c)
        omega_probes = baseline.get("omega.example", Counter())["requests"]
        assert statuses["moved"] >= 3 * 3 * 6  # HTTP to a TLS site: 301
        assert statuses["ok"] + statuses["moved"] == 3 * (4 * 6 + 3 * 6 * 2) + probes - omega_probes
        omega = UsageHour.objects.filter(site__domain="omega.example").aggregate(s=Sum("status_5xx"))
        assert omega["s"] == 3 * 5 + omega_probes
        files = CollectedFile.objects.all()
        assert sum(f.unknown_lines for f in files) - unknown_before == 3 * 5  # nobody.example: for no site
        assert sum(f.bad_lines for f in files) == 0
        assert not files.filter(removed_at__isnull=True).exists()
        # left on each front-end: only what rotatelogs had open when the collection began (or opened since)
        oldest_open = f"usage.{second_started - datetime.timedelta(seconds=ROTATE):%Y%m%d%H%M%S}.log"
        for host in fleet.hosts:
            left = sorted(p.name for p in (tmp_path / host.name / "usage").iterdir())
            assert left and all(name >= oldest_open for name in left), (host.name, left, oldest_open)
            assert not CollectedFile.objects.filter(frontend__name=host.name, name__in=left).exists()
        assert time.monotonic() - started < 60
    finally:
        fleet.stop()
