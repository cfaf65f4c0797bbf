import pytest
from django.core.management import CommandError, call_command

from balancers.models import FrontEnd
from rendering.manifest import parse_manifest
from rendering.routes import DERIVED_FILES, map_entries
from sites.models import Site
from tests.factories import give_certificate
from tests.realparts import require_binary


def test_render_apache_writes_the_tree_and_removes_files_of_deleted_sites(
    demo, frontend, tmp_path, capsys, test_pki, secrets_key
):
    give_certificate(Site.objects.get(domain="linux.co.uk"), test_pki)  # so the site has files of its own
    out = tmp_path / "out"
    call_command("render_apache", out=str(out))
    site_files = ("sites/linux.co.uk.conf", "tls/linux.co.uk.crt", "tls/linux.co.uk.key")
    assert all((out / path).is_file() for path in site_files)
    assert {"linux.co.uk", "www.linux.co.uk"} <= set(map_entries((out / "routes.map").read_text()))
    manifest = parse_manifest((out / "MANIFEST").read_text())
    assert set(manifest) == {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} - {
        "MANIFEST",
        *DERIVED_FILES,
    }
    assert "IncludeOptional /etc/apache2/hostpanel/sites/*.conf" in (out / "hostpanel.conf").read_text()
    Site.objects.all().delete()
    call_command("render_apache", out=str(out), frontend="demo-fe")
    assert not any((out / path).exists() for path in site_files)
    assert map_entries((out / "routes.map").read_text()) == {}
    assert set(parse_manifest((out / "MANIFEST").read_text())) == {
        p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()
    } - {"MANIFEST", *DERIVED_FILES}
    assert "demo-fe" in capsys.readouterr().out


def test_render_apache_refuses_a_foreign_non_empty_directory_and_an_unknown_front_end(demo, frontend, tmp_path):
    (tmp_path / "precious.txt").write_text("x")
    with pytest.raises(CommandError, match="no MANIFEST"):
        call_command("render_apache", out=str(tmp_path))
    with pytest.raises(CommandError, match="No front-end"):
        call_command("render_apache", out=str(tmp_path / "new"), frontend="nope")


@pytest.mark.real
def test_render_apache_check_runs_apache2_and_writes_nothing_on_failure(demo, frontend, tmp_path, capsys):
    require_binary("apache2")
    call_command("render_apache", out=str(tmp_path / "ok"), check=True)
    assert "Syntax OK" in capsys.readouterr().out
    # A listen address Apache cannot parse as a vhost is caught by apache2 -t, before anything is written.
    FrontEnd.objects.update(http_listen="nonexistent.invalid:80")
    with pytest.raises(CommandError, match="apache2 -t failed"):
        call_command("render_apache", out=str(tmp_path / "bad"), check=True)
    assert not (tmp_path / "bad").exists()
