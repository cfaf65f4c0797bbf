"""Import apply is a destructive action of the staff pages: without a password given within
HOSTPANEL_REAUTH_MINUTES the preview asks for it, and the import happens only with the right one."""

import io
import tarfile
import time
from pathlib import Path

import pytest
from django.urls import reverse

from hostpanel.sessions import AUTH_AT, REAUTH_FIELD
from sites.models import Site

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def uploads_in_tmp(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"


def _upload(client, root: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            archive.add(path, arcname=f"apache2/{path.relative_to(root)}")
    buffer.seek(0)
    buffer.name = "etc-apache2.tgz"
    answer = client.post(reverse("balancers:import_start"), {"archive": buffer, "config_root": "/etc/apache2"})
    assert answer.status_code == 302


def test_import_apply_without_a_recent_password_asks_for_it_and_imports_only_with_the_right_one(
    operator_client, seed22
):
    _upload(operator_client, seed22)
    session = operator_client.session
    session[AUTH_AT] = time.time() - 3600
    session.save()
    preview = operator_client.get(reverse("balancers:import_preview"))
    assert f'name="{REAUTH_FIELD}"' in preview.content.decode()
    confirm = {"fingerprint": preview.context["plan"].fingerprint, "accept_warnings": "on"}
    url = reverse("balancers:import_apply")

    missing = operator_client.post(url, confirm, follow=True)
    assert "Not imported: enter your password" in missing.content.decode() and not Site.objects.exists()
    wrong = operator_client.post(url, {**confirm, REAUTH_FIELD: "not-it"}, follow=True)
    assert "Not imported: that is not your password." in wrong.content.decode() and not Site.objects.exists()

    done = operator_client.post(url, {**confirm, REAUTH_FIELD: "pw-olga"}, follow=True)
    assert "Imported: 2 zope servers" in done.content.decode()
    assert list(Site.objects.values_list("domain", flat=True)) == ["linux.co.uk"]
