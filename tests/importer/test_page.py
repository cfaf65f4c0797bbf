"""The operators' import page with Django's test client: read (upload or front-end) -> preview -> confirm
-> import, viewers refused, the fingerprint round trip, paginated preview of 1,000 sites."""

import io
import shutil
import tarfile
from pathlib import Path

import pytest
from django.urls import reverse

from balancers.models import BalancerMember
from devrig.handwritten import handwritten_tree
from hostpanel.models import AuditEntry
from importer.service import AUDIT_ACTION
from sites.models import Site
from tests.samples import FIXTURES, tgz

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def uploads_in_tmp(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"


def tree_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def upload(client, files: dict[str, bytes]):
    return client.post(reverse("balancers:import_start"), {"archive": tgz(files), "config_root": "/etc/apache2"})


def test_viewers_get_403_on_every_import_page_and_no_nav_link(viewer_client):
    for name in ("import_start", "import_preview"):
        assert viewer_client.get(reverse(f"balancers:{name}")).status_code == 403
    for name in ("import_start", "import_check", "import_apply"):
        assert viewer_client.post(reverse(f"balancers:{name}")).status_code == 403
    assert b"/import/" not in viewer_client.get(reverse("balancers:frontend_list")).content


def test_operators_see_the_import_link_in_the_nav(operator_client):
    assert reverse("balancers:import_start").encode() in operator_client.get(reverse("balancers:frontend_list")).content


def test_an_uploaded_seed_previews_then_imports_after_the_warnings_are_ticked_once(operator_client, seed22):
    assert upload(operator_client, tree_files(seed22)).status_code == 302
    preview = operator_client.get(reverse("balancers:import_preview"))
    html = preview.content.decode()
    assert "Read 3 files from <code>upload etc-apache2.tgz</code>" in html
    assert "linux.co.uk" in html and "/plone/linux" in html
    assert "httpd.conf:19" in html and "repeats the URL of the member" in html  # the duplicate-member warning
    assert "Not understood:" in html and "Warnings (need your explicit accept)" in html
    fingerprint = preview.context["plan"].fingerprint
    refused = operator_client.post(reverse("balancers:import_apply"), {"fingerprint": fingerprint}, follow=True)
    assert "accept the warnings to import" in refused.content.decode() and not Site.objects.exists()
    done = operator_client.post(
        reverse("balancers:import_apply"), {"fingerprint": fingerprint, "accept_warnings": "on"}, follow=True
    )
    assert "Imported: 2 zope servers, 1 balancers, 2 members, 1 sites, 0 aliases." in done.content.decode()
    assert list(Site.objects.values_list("domain", flat=True)) == ["linux.co.uk"]
    assert AuditEntry.objects.filter(action=AUDIT_ACTION).count() == 1
    # the same upload again: nothing new
    upload(operator_client, tree_files(seed22))
    again = operator_client.get(reverse("balancers:import_preview"))
    assert again.context["plan"].counts()["sites"] == {"create": 0, "match": 1}
    operator_client.post(
        reverse("balancers:import_apply"),
        {"fingerprint": again.context["plan"].fingerprint, "accept_warnings": "on"},
    )
    assert (Site.objects.count(), BalancerMember.objects.count()) == (1, 2)
    assert AuditEntry.objects.filter(action=AUDIT_ACTION).count() == 1


def test_a_confirmation_whose_fingerprint_is_not_the_previewed_plans_is_refused(operator_client, seed24):
    upload(operator_client, tree_files(seed24))
    answer = operator_client.post(
        reverse("balancers:import_apply"), {"fingerprint": "0" * 64, "accept_warnings": "on"}, follow=True
    )
    assert "changed since the preview" in answer.content.decode()
    assert not Site.objects.exists()


def test_a_change_in_the_panel_after_the_preview_changes_the_fingerprint_and_nothing_is_imported(
    operator_client, seed24, demo
):
    Site.objects.all().delete()
    upload(operator_client, tree_files(seed24))
    fingerprint = operator_client.get(reverse("balancers:import_preview")).context["plan"].fingerprint
    BalancerMember.objects.filter(balancer__name="bronze").delete()  # someone edits the panel meanwhile
    answer = operator_client.post(
        reverse("balancers:import_apply"), {"fingerprint": fingerprint, "accept_warnings": "on"}, follow=True
    )
    assert "changed since the preview" in answer.content.decode()
    assert not Site.objects.filter(domain="linux.co.uk").exists()


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"../evil.conf": b"x", "apache2.conf": b""}, "a path outside the config root"),
        ({"notes.txt": b""}, "neither apache2.conf nor httpd.conf"),
    ],
)
def test_an_unsafe_archive_is_refused_on_the_form_and_nothing_is_stored(operator_client, settings, files, message):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    buffer.name = "x.tgz"
    answer = operator_client.post(reverse("balancers:import_start"), {"archive": buffer, "config_root": "/etc/apache2"})
    assert answer.status_code == 400 and message in answer.content.decode()
    assert not list((settings.VAR_DIR / "imports").glob("*")) if (settings.VAR_DIR / "imports").exists() else True


def test_a_hostile_config_is_refused_with_file_and_line(operator_client):
    upload(operator_client, {"apache2.conf": b"Listen 80\nInclude ../../etc/passwd\n"})
    answer = operator_client.get(reverse("balancers:import_preview"))
    assert answer.status_code == 400
    assert "apache2.conf:2" in answer.content.decode() and "outside the config root" in answer.content.decode()


def test_one_thousand_sites_preview_on_pages_of_one_hundred(operator_client, django_assert_max_num_queries):
    upload(operator_client, handwritten_tree(1000))
    # Site.clean() asks once per site whether its domain is another site's alias (phase 1's planner runs
    # full_clean() per candidate): linear, bounded here so it cannot grow worse unnoticed.
    with django_assert_max_num_queries(1500):
        first = operator_client.get(reverse("balancers:import_preview"))
    html = first.content.decode()
    assert "Sites: 1000" in html and "Page 1 of 10" in html
    assert html.count("<td>client") == 100
    last = operator_client.get(reverse("balancers:import_preview") + "?page=10")
    assert "client1000.example.com" in last.content.decode()


def test_choosing_neither_or_both_sources_is_refused(operator_client, demo, tmp_path):
    answer = operator_client.post(reverse("balancers:import_start"), {"config_root": "/etc/apache2"})
    assert answer.status_code == 400 and "one of the two" in answer.content.decode()


@pytest.mark.real
def test_a_front_end_is_read_over_ssh_and_its_equivalence_check_is_shown_and_recorded(
    operator_client, ssh_frontend, seed24, tmp_path
):
    root = shutil.copytree(seed24, tmp_path / "etc-apache2")
    frontend = ssh_frontend()
    start = operator_client.post(reverse("balancers:import_start"), {"frontend": frontend.pk, "config_root": str(root)})
    assert start.status_code == 302
    preview = operator_client.get(reverse("balancers:import_preview"))
    assert f"front-end fe1:{root}" in preview.content.decode()
    fingerprint = preview.context["plan"].fingerprint
    operator_client.post(reverse("balancers:import_check"), {"fingerprint": fingerprint})
    html = operator_client.get(reverse("balancers:import_preview")).content.decode()
    assert "1 of 1 vhosts equivalent: 1 of 1 sites" in html
    entry = AuditEntry.objects.get(action="import.equivalence")
    assert (entry.object_key, entry.after["equivalent"]) == ("fe1", True)


def test_a_hand_written_tree_shows_the_site_left_out_and_the_rules_that_become_options(operator_client):
    root = FIXTURES / "importer" / "corpus" / "10-freia-manage-block"
    assert upload(operator_client, tree_files(root)).status_code == 302
    html = operator_client.get(reverse("balancers:import_preview")).content.decode()
    assert "Sites left out (the rest is imported): 1" in html
    assert "www.freia-example.jp: its VirtualHostMonster rule serves the Zope root, not a Plone site" in html
    assert "Structured site options the imported sites get (from extra rules, or the map): 2" in html
    assert "intranet.freia-example.jp: structured site option <code>manage_access</code> = blocked" in html
    assert "after the options change lands" not in html
    assert "Conflicts and errors (block the import)" not in html
