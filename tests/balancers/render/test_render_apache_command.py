import pytest
from django.core.management import CommandError, call_command

from balancers.manifest import parse_manifest
from balancers.models import FrontEnd
from sites.models import Site
from tests.realparts import require_binary


def test_render_apache_writes_the_tree_and_removes_files_of_deleted_sites(demo, frontend, tmp_path, capsys):
    out = tmp_path / "out"
    call_command("render_apache", out=str(out))
    assert (out / "sites/linux.co.uk.conf").exists()
    manifest = parse_manifest((out / "MANIFEST").read_text())
    assert set(manifest) == {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} - {"MANIFEST"}
    assert "IncludeOptional /etc/apache2/hostpanel/sites/*.conf" in (out / "hostpanel.conf").read_text()
    assert (out / "sites" / "linux.co.uk.conf").is_file()
    Site.objects.all().delete()
    call_command("render_apache", out=str(out), frontend="demo-fe")
    assert not (out / "sites/linux.co.uk.conf").exists()
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
