import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from balancers.models import Balancer
from certificates.crypto import encrypt_secret
from certificates.models import Certificate
from deploy.stored import routes_base_set
from rendering import cache
from rendering import journal as module
from rendering.snapshot import FrontEndRecord, load_snapshot
from sites.models import Site
from tests.factories import add_generated_sites


def add_certificates(sites) -> None:
    """A (fake, PEM-shaped) live certificate for each site, as the ACME step stores it."""
    Site.objects.filter(pk__in=[s.pk for s in sites]).update(tls="acme")
    key = encrypt_secret(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    Certificate.objects.bulk_create(
        [
            Certificate(
                site=site,
                status="valid",
                serial=f"{site.pk:x}",
                names=[site.domain],
                certificate_pem="-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                private_key_encrypted=key,
            )
            for site in sites
        ]
    )


def test_the_snapshot_holds_the_seed_setup(demo, frontend):
    snapshot = load_snapshot()
    assert [s.name for s in snapshot.zope_servers] == ["backup", "zope1", "zope2"]
    bronze = next(b for b in snapshot.balancers if b.name == "bronze")
    assert [(m.route, m.lbset, m.hot_standby) for m in bronze.members] == [
        ("zope1", 1, False),
        ("zope2", 1, False),
        ("backup", 2, True),
    ]
    assert bronze.members[0].zope_server.url == "http://127.0.0.1:18101"
    (site,) = snapshot.sites
    assert (site.domain, site.balancer, site.plone_path, site.aliases) == (
        "linux.co.uk",
        "bronze",
        "/plone/linux",
        ("www.linux.co.uk",),
    )
    assert snapshot.frontend("demo-fe").http_listen == "*:80"


def test_the_snapshot_takes_the_same_number_of_queries_for_10_and_500_sites(
    demo, frontend, django_assert_max_num_queries, settings
):
    settings.HOSTPANEL_SECRETS_KEY = ["VGhpcyBpcyBhIHRlc3Qga2V5IGZvciB0aGUgdGVzdHM="]
    add_generated_sites(10)
    add_certificates(Site.objects.all()[:3])
    # A full read (no cache): 8 SELECTs (certificates in one, the routing base in one), the journal's
    # position (1; 3 on PostgreSQL), plus SAVEPOINT/RELEASE of the snapshot's atomic block inside the
    # test's transaction.
    cache.clear()
    with django_assert_max_num_queries(13) as small_queries:
        small = load_snapshot()
    add_generated_sites(500)
    add_certificates(Site.objects.filter(certificate__isnull=True)[:300])
    assert Site.objects.count() == 501
    cache.clear()
    with django_assert_max_num_queries(13) as large_queries:
        large = load_snapshot()
    assert len(small_queries.captured_queries) == len(large_queries.captured_queries)
    assert len(small.sites) == 11 and len(large.sites) == 501
    assert sum(len(s.aliases) for s in large.sites) > sum(len(s.aliases) for s in small.sites) > 0
    assert sum(s.certificate is not None for s in large.sites) == 303
    assert next(s for s in large.sites if s.certificate).certificate.key_pem.startswith("-----BEGIN PRIVATE KEY")


@pytest.mark.real
def test_the_snapshot_is_one_repeatable_read_transaction_on_postgresql(transactional_db, demo):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only (SQLite: a read transaction already is a snapshot)")
    bronze = Balancer.objects.get(name="bronze")
    committed: list[str] = []

    def commit_a_site_from_another_connection() -> None:
        try:
            Site.objects.create(domain="late.example", balancer=bronze, plone_path="/plone/late")
            committed.append("late.example")
        finally:
            connection.close()

    def after_first_query(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if "balancers_zopeserver" in sql and not committed:
            # a change committed between two of the snapshot's queries (by another connection)
            worker = threading.Thread(target=commit_a_site_from_another_connection)
            worker.start()
            worker.join()
        return result

    with CaptureQueriesContext(connection) as queries, connection.execute_wrapper(after_first_query):
        snapshot = load_snapshot()
    statements = [q["sql"] for q in queries.captured_queries if q["sql"] != "BEGIN"]
    assert statements[0] == "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"  # before the first read
    assert committed == ["late.example"]
    assert "late.example" not in {s.domain for s in snapshot.sites}  # READ COMMITTED would have seen it
    assert "late.example" in {s.domain for s in load_snapshot().sites}


def test_a_site_switched_to_http_only_has_no_certificate_in_the_snapshot(demo, frontend, settings):
    settings.HOSTPANEL_SECRETS_KEY = ["VGhpcyBpcyBhIHRlc3Qga2V5IGZvciB0aGUgdGVzdHM="]
    site = Site.objects.get()
    add_certificates([site])
    assert load_snapshot().sites[0].certificate is not None
    Site.objects.filter(pk=site.pk).update(tls="none")
    assert load_snapshot().sites[0].certificate is None


def test_an_unchanged_row_gives_the_same_record_and_a_changed_one_a_new_record(demo, frontend, settings):
    settings.HOSTPANEL_SECRETS_KEY = ["VGhpcyBpcyBhIHRlc3Qga2V5IGZvciB0aGUgdGVzdHM="]
    add_generated_sites(3)
    add_certificates(Site.objects.order_by("domain")[:1])
    first = {s.domain: s for s in load_snapshot().sites}
    changed = Site.objects.exclude(domain="linux.co.uk").order_by("domain").last()
    Site.objects.filter(pk=changed.pk).update(plone_path="/plone/moved")  # past the models, like raw SQL
    second = {s.domain: s for s in load_snapshot().sites}
    assert second[changed.domain] is not first[changed.domain]
    assert second[changed.domain].plone_path == "/plone/moved"
    for domain in set(first) - {changed.domain}:
        assert second[domain] is first[domain], domain  # the renderer keeps its work by this identity
    # an alias is part of the row: a new one gives a new record
    Site.objects.get(domain="linux.co.uk").aliases.create(name="shop.linux.co.uk")
    third = {s.domain: s for s in load_snapshot().sites}
    assert third["linux.co.uk"] is not second["linux.co.uk"]
    assert "shop.linux.co.uk" in third["linux.co.uk"].aliases


def test_a_certificate_key_is_decrypted_once_while_its_row_is_unchanged(demo, frontend, settings, monkeypatch):
    settings.HOSTPANEL_SECRETS_KEY = ["VGhpcyBpcyBhIHRlc3Qga2V5IGZvciB0aGUgdGVzdHM="]
    add_certificates(Site.objects.all())
    opened = []
    real = module.decrypt_secret
    monkeypatch.setattr(module, "decrypt_secret", lambda token: opened.append(token) or real(token))
    cache.clear()  # nothing known from an earlier test
    load_snapshot()
    load_snapshot()
    assert len(opened) == 1
    Certificate.objects.update(serial="renewed")
    (site,) = load_snapshot().sites
    assert site.certificate.serial == "renewed"
    assert len(opened) == 2


def test_the_routing_base_is_read_once_and_again_only_when_it_changes(demo, django_assert_max_num_queries):
    routes_base_set("# HostPanel routes: 0 sites\n")
    load_snapshot()
    with django_assert_max_num_queries(20) as first:
        assert load_snapshot().routes_base == "# HostPanel routes: 0 sites\n"
    routes_base_set("# HostPanel routes: 0 sites\n# another base\n")
    with django_assert_max_num_queries(21) as second:
        assert load_snapshot().routes_base == "# HostPanel routes: 0 sites\n# another base\n"
    assert len(second.captured_queries) == len(first.captured_queries) + 1  # the new text, once


def test_the_snapshot_reads_a_front_end_as_its_model_gives_it_the_tls_edge_too(demo, frontend):
    """The deployment renders from the snapshot's records: a field missing there (the edge, once) renders the
    front-end as something it is not."""
    frontend.tls_edge, frontend.edge_backend_listen = "nginx", "127.0.0.1:9443"
    frontend.save()
    record = load_snapshot().frontend(frontend.name)
    assert (record.tls_edge, record.edge_backend_listen) == ("nginx", "127.0.0.1:9443")
    assert record == FrontEndRecord.from_model(frontend)
