"""The equivalence check on real Apache: the old config and HostPanel's rendering, each in a throwaway
standalone Apache on loopback in front of recording backends, asked the same requests."""

import errno

import pytest

from devrig.backends import Backend
from devrig.handwritten import handwritten_tree
from importer.equivalence import check_equivalence, sample_evenly
from importer.reader import MappingSource, read_config
from importer.service import import_preview
from importer.throwaway import old_config_copy
from tests.realparts import require_binary

pytestmark = pytest.mark.django_db


def test_the_throwaway_copy_moves_every_address_to_loopback_and_translates_2_2_access(seed22):
    from_dir = import_preview(seed22)
    old = old_config_copy(
        from_dir.recognition.tree, zope_ports={("zope1", 8080): 40001}, blackhole=40009, directory="/check/old"
    )
    assert "Listen" not in old.text and "LoadModule" not in old.text and "NameVirtualHost" not in old.text
    assert "Allow from all" not in old.text and "Require all granted" in old.text
    port = old.address_ports["*:80"]
    assert old.text.count(f"<VirtualHost 127.0.0.1:{port}>") == 3
    assert r"ProxyRemoteMatch (?i)^http://zope1:8080(/|$) http://127.0.0.1:40001" in old.text
    assert f"ProxyRemoteMatch (?i)^http://node1(:80)?(/|$) http://127.0.0.1:{port}" in old.text
    assert "ProxyRemoteMatch (?i)^http://backup(:80)?(/|$) http://127.0.0.1:40009" in old.text  # never defined
    assert "Apache 2.2 Allow from all -> Require all granted (x1)" in old.changes
    assert old.text.splitlines()[2 + 3] == (
        rf"ProxyRemoteMatch ^(?!http://127\.0\.0\.1:({port})(/|$)) http://127.0.0.1:40009"
    )  # last of the ProxyRemoteMatch lines: every other proxy target goes to the closed port


@pytest.mark.real
def test_a_proxy_target_the_importer_did_not_understand_never_leaves_loopback_and_no_prg_map_runs(tmp_path):
    require_binary("apache2")
    marker = tmp_path / "ran"
    files = handwritten_tree(1)
    files["sites-enabled/client0001.example.com.conf"] = (
        b"<VirtualHost *:80>\n    ServerName client0001.example.com\n    RewriteEngine On\n"
        + f"    RewriteMap evil prg:/bin/sh -c 'touch {marker}'\n".encode()
        + b"    RewriteRule ^/hostpanel-check/(.*) http://203.0.113.7/$1 [P,L]\n"
        b"    RewriteRule ^/(.*) balancer://bronze/VirtualHostBase/http/%{SERVER_NAME}:80"
        b"/plone/c1/VirtualHostRoot/$1 [L,P]\n"
        b"</VirtualHost>\n"
    )
    report = check_equivalence(import_preview(MappingSource(files)))
    assert not marker.exists()
    assert any(
        n.startswith("RewriteMap at sites-enabled/client0001.example.com.conf:4: a prg: map") for n in report.not_run
    )
    # today the extra rule proxies /hostpanel-check/ to 203.0.113.7: sent to the closed port instead (503 at
    # once; 203.0.113.7 is TEST-NET and would time out)
    assert any("today answered 503 by Apache itself" in d for d in report.sites[0].differences), report.sites


def test_a_sample_is_spread_evenly_over_the_sites():
    assert sample_evenly(list(range(10)), 3) == [0, 3, 6]
    assert sample_evenly([1, 2], None) == [1, 2]


@pytest.mark.real
def test_the_generated_300_site_config_is_equivalent_with_only_the_preserved_host_as_a_note():
    require_binary("apache2")
    plan = import_preview(MappingSource(handwritten_tree(300)))
    report = check_equivalence(plan)
    assert report.error == ""
    assert report.equivalent, report.differing[:3]
    assert (len(report.sites), report.total_sites, len(report.balancers)) == (300, 300, 3)
    assert report.requests > 2 * 400 * 3  # 400 names, each without and with every route's cookie
    notes = {n for s in report.sites for n in s.notes}
    assert any("Zope gets Host 10.0.0.11:8080 today and client0001.example.com from HostPanel" in n for n in notes)


@pytest.mark.real
def test_the_seed_as_written_differs_by_its_member_typo_and_its_site_without_rewrite_engine(seed22):
    require_binary("apache2")
    report = check_equivalence(import_preview(seed22))
    assert report.error == "" and not report.equivalent
    balancer = next(b for b in report.balancers if b.domain == "balancer://bronze")
    assert (
        "hostpanel-probe.invalid, cookie BALANCEID=balancer.zope2: served today by zope1, by HostPanel's config zope2"
        in balancer.differences
    )
    [site] = report.sites
    assert (
        "linux.co.uk, cookie BALANCEID=balancer.zope1: today answered 404 by Apache itself (no Zope server "
        "reached), HostPanel's config zope1" in site.differences
    )
    assert "Apache 2.2 Allow from all -> Require all granted (x1)" in report.changes
    assert report.summary()["differences"] == report.difference_count > 2


@pytest.mark.real
def test_the_seed_written_for_2_4_is_equivalent(seed24):
    require_binary("apache2")
    report = check_equivalence(import_preview(seed24))
    assert report.equivalent, (report.error, report.differing)
    assert [s.names for s in report.sites] == [["linux.co.uk", "www.linux.co.uk"]]
    assert report.sites[0].notes == []  # ProxyPreserveHost On there too: Zope gets the same Host


@pytest.mark.real
def test_a_config_apache_will_not_start_gives_a_report_with_the_error():
    require_binary("apache2")
    files = handwritten_tree(1)
    files["sites-enabled/broken.conf"] = (
        b"<VirtualHost *:80>\n    ServerName broken.example\n    RewriteEngine On\n"
        b"    RewriteRule ^/((unclosed /x [L]\n    NoSuchDirective x\n</VirtualHost>\n"
    )
    plan = import_preview(MappingSource(files))
    assert read_config(MappingSource(files)).files[-1] == "sites-enabled/client0001.example.com.conf"
    report = check_equivalence(plan)
    assert "the old config does not start in a throwaway Apache" in report.error
    assert "RewriteRule" in report.error and not report.equivalent
    # a directive the check does not know is not run (named in the report), never handed to Apache
    assert any(n.startswith("NoSuchDirective at sites-enabled/broken.conf:5") for n in report.not_run)


@pytest.mark.real
def test_a_fake_backend_port_taken_meanwhile_is_chosen_again(monkeypatch, seed24):
    require_binary("apache2")
    real_start = Backend.start
    taken: list[Backend] = []

    def start_taken_once(self: Backend) -> Backend:
        if not taken:  # another process took the port between free_port() and the bind
            taken.append(self)
            raise OSError(errno.EADDRINUSE, "Address already in use")
        return real_start(self)

    monkeypatch.setattr(Backend, "start", start_taken_once)
    report = check_equivalence(import_preview(seed24))
    assert taken and report.error == "" and report.equivalent, (report.error, report.differing)
