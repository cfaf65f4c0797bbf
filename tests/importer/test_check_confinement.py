"""The equivalence check runs an imported config on the panel's own host, so it runs only what routes a
request, written again from an allowlist, and that inside a sandbox: nothing of an imported config can
start a program, load code or read the panel's files, whether it comes through the web page or the
command (and an operator, not a superuser, may do both)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse

from devrig.apache import StandaloneApache, write_tree
from devrig.handwritten import handwritten_tree
from devrig.net import free_port
from importer.equivalence import check_equivalence
from importer.reader import MappingSource, read_config
from importer.sandbox import prepare, sandbox_prefix
from importer.service import import_preview
from importer.throwaway import old_config_copy
from tests.realparts import require_binary
from tests.samples import tgz

pytestmark = pytest.mark.django_db


def hostile_tree(marker_dir: Path) -> tuple[dict[str, bytes], dict[str, str]]:
    """handwritten_tree(1) plus every way an Apache config can run a program or read a file that the
    review found, each touching its own marker; returns the files and {directive name: marker path}."""
    m = {name: str(marker_dir / name) for name in ("globallog", "customlog", "errorlog", "prg", "seed", "dialog")}
    files = handwritten_tree(1)
    files["apache2.conf"] += (
        f"GlobalLog \"|/bin/sh -c 'touch {m['globallog']}; cat >/dev/null'\" common\n"
        f"SSLRandomSeed startup exec:/usr/bin/touch {m['seed']}\n"
        f"SSLPassPhraseDialog exec:/usr/bin/touch\n"
        "LoadModule evil_module /tmp/evil.so\n"
        "LoadFile /tmp/evil.so\n"
    ).encode()
    files["sites-enabled/client0001.example.com.conf"] = (
        "<VirtualHost *:80>\n"
        "    ServerName client0001.example.com\n"
        f"    CustomLog \"|/bin/sh -c 'touch {m['customlog']}; cat >/dev/null'\" common\n"
        f"    ErrorLog \"|/bin/sh -c 'touch {m['errorlog']}; cat >/dev/null'\"\n"
        '    Header always set X-Leak "expr=%{file:/etc/hostname}"\n'
        "    <If \"file('/etc/passwd') =~ /root/\">\n        Header set X-Root yes\n    </If>\n"
        "    SetEnvIfExpr \"file('/etc/hostname') =~ /./\" LEAK=1\n"
        "    RewriteEngine On\n"
        f"    RewriteMap evil \"prg:/bin/sh -c 'touch {m['prg']}'\"\n"
        "    RewriteMap leak txt:/etc/passwd\n"
        "    RewriteCond /etc/passwd -f\n"
        "    RewriteRule ^/hostpanel-file/(.*) /etc/$1 [H=server-status]\n"
        "    ProxyPass /pg unix:/var/run/postgresql/.s.PGSQL.5432|http://localhost/\n"
        "    Alias /etc /etc\n"
        "    RewriteRule ^/(.*) balancer://bronze/VirtualHostBase/http/%{SERVER_NAME}:80"
        "/plone/c1/VirtualHostRoot/$1 [L,P]\n"
        "</VirtualHost>\n"
    ).encode()
    return files, m


NOT_RUN = [
    "GlobalLog at apache2.conf:",
    "SSLRandomSeed at apache2.conf:",
    "SSLPassPhraseDialog at apache2.conf:",
    "Header at sites-enabled/client0001.example.com.conf:5: an expression",
    "If at sites-enabled/client0001.example.com.conf:6",
    "SetEnvIfExpr at sites-enabled/client0001.example.com.conf:9",
    "RewriteMap at sites-enabled/client0001.example.com.conf:11: a prg: map",
    "RewriteMap at sites-enabled/client0001.example.com.conf:12: the map file /etc/passwd",
    "RewriteCond at sites-enabled/client0001.example.com.conf:13: a filesystem test (-f)",
    "RewriteRule at sites-enabled/client0001.example.com.conf:14: the flag H",
    "ProxyPass at sites-enabled/client0001.example.com.conf:15",
]


def assert_named(lines: list[str] | str) -> None:
    text = "\n".join(lines) if isinstance(lines, list) else lines
    for expected in NOT_RUN:
        assert expected in text, (expected, text)


def test_the_copy_is_written_from_the_allowlist_and_names_everything_it_left_out(tmp_path):
    files, markers = hostile_tree(tmp_path)
    tree = read_config(MappingSource(files))
    copy = old_config_copy(tree, zope_ports={("10.0.0.11", 8080): 40001}, blackhole=40009, directory="/check/old")
    assert_named(copy.not_run)
    for word in ("GlobalLog", "exec:", "prg:", "expr", "file(", "LoadModule", "LoadFile", "unix:", "/etc/passwd",
                 "CustomLog", "ErrorLog", "<If", "H=", "|/bin/sh"):  # fmt: skip
        assert word not in copy.text, word
    assert 'Alias "/etc" "/check/old/empty"' in copy.text  # files are never served from the host
    # the routing itself runs, written again from the parsed words
    assert 'ServerName "client0001.example.com"' in copy.text and "RewriteEngine" in copy.text
    assert "RewriteRule ^/(.*) balancer://bronze/VirtualHostBase/http/%{SERVER_NAME}:80" in copy.text


def test_a_txt_map_read_with_the_config_runs_from_the_checks_own_copy():
    files = handwritten_tree(1)
    files["conf-enabled/hosts.map"] = b"client0001.example.com c1\n"
    files["sites-enabled/client0001.example.com.conf"] = (
        b"<VirtualHost *:80>\n    ServerName client0001.example.com\n    RewriteEngine On\n"
        b"    RewriteMap hosts txt:/etc/apache2/conf-enabled/hosts.map\n"
        b"    RewriteRule ^/(.*) balancer://bronze/VirtualHostBase/http/%{SERVER_NAME}:80"
        b"/plone/${hosts:%{SERVER_NAME}}/VirtualHostRoot/$1 [L,P]\n</VirtualHost>\n"
    )
    copy = old_config_copy(read_config(MappingSource(files)), zope_ports={}, blackhole=40009, directory="/c/old")
    assert 'RewriteMap "hosts" "txt:/c/old/maps/0.txt"' in copy.text
    assert copy.files["maps/0.txt"] == "client0001.example.com c1\n"
    assert not copy.not_run


@pytest.mark.real
def test_nothing_of_a_hostile_config_runs_and_the_report_names_each_directive(tmp_path):
    require_binary("apache2")
    files, markers = hostile_tree(tmp_path)
    report = check_equivalence(import_preview(MappingSource(files)))
    assert report.error == "", report.error
    assert not [name for name, path in markers.items() if os.path.exists(path)]
    assert_named(report.not_run)
    assert report.summary()["not_run_count"] == len(report.not_run) >= len(NOT_RUN)
    assert [s.domain for s in report.sites] == ["client0001.example.com"]  # the routing was still checked


@pytest.mark.real
def test_through_the_web_page_an_operator_gets_the_directives_named_and_nothing_runs(operator_client, tmp_path):
    require_binary("apache2")
    files, markers = hostile_tree(tmp_path)
    assert operator_client.post(
        reverse("balancers:import_start"), {"archive": tgz(files), "config_root": "/etc/apache2"}
    ).status_code in (200, 302)
    preview = operator_client.get(reverse("balancers:import_preview"))
    fingerprint = preview.context["plan"].fingerprint
    operator_client.post(reverse("balancers:import_check"), {"fingerprint": fingerprint})
    html = operator_client.get(reverse("balancers:import_preview")).content.decode()
    assert "Not run in the check" in html
    assert_named(html.replace("&#x27;", "'").replace("&quot;", '"'))
    assert not [name for name, path in markers.items() if os.path.exists(path)]


@pytest.mark.real
def test_through_the_command_nothing_runs_and_the_directives_are_named(tmp_path, capsys):
    require_binary("apache2")
    files, markers = hostile_tree(tmp_path / "markers")
    (tmp_path / "markers").mkdir()
    root = tmp_path / "etc"
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    call_command("import_apache", from_dir=str(root), check_equivalence=True)
    out = capsys.readouterr().out
    assert "Not run in the check" in out
    assert_named(out)
    assert not [name for name, path in markers.items() if os.path.exists(path)]


def _secrets(tmp_path: Path) -> list[Path]:
    """Files standing for the panel's own: var/ (database, keys) and the code's directory."""
    var = tmp_path / "panel-var"
    var.mkdir()
    (var / "secrets_key").write_text("not-for-the-sandbox")
    os.chmod(var / "secrets_key", 0o644)  # readable by anyone on the host: only the sandbox hides it
    return [var / "secrets_key", Path(settings.BASE_DIR) / "manage.py"]


def test_the_sandbox_runs_as_nobody_with_an_empty_environment_and_without_the_panels_files(tmp_path):
    require_binary("bwrap")
    secrets = _secrets(tmp_path)
    workdir = tmp_path / "check"
    workdir.mkdir()
    prepare(workdir)
    script = "id -u; env | sort | tr '\\n' ' '; echo; " + "; ".join(
        f"test -e {path} && echo VISIBLE {path}" for path in [*secrets, "/etc/passwd", "/root", "/work", "/var"]
    )
    env = {**os.environ, "SECRET_KEY": "panel-secret", "HOSTPANEL_SECRETS_KEY": "fernet"}
    out = subprocess.run(
        [*sandbox_prefix(workdir), "/bin/sh", "-c", script], capture_output=True, text=True, env=env, timeout=30
    )
    uid, environment, *rest = out.stdout.splitlines()
    assert int(uid) != 0 if os.geteuid() == 0 else int(uid) == os.geteuid()
    assert "SECRET_KEY" not in environment and "HOSTPANEL" not in environment and "DATABASE" not in environment
    assert "VISIBLE" not in out.stdout, out.stdout
    # and it can write where the check needs it to (its pid file and logs)
    check = subprocess.run([*sandbox_prefix(workdir), "/usr/bin/touch", str(workdir / "pid")], timeout=30)
    assert check.returncode == 0


@pytest.mark.real
def test_a_running_throwaway_apache_cannot_see_the_panels_files(tmp_path):
    require_binary("apache2")
    require_binary("bwrap")
    secrets = _secrets(tmp_path)
    workdir = tmp_path / "check"
    port = free_port()
    write_tree({"hostpanel.conf": f"<VirtualHost 127.0.0.1:{port}>\n    ServerName x\n</VirtualHost>\n"}, workdir / "c")
    apache = StandaloneApache(
        workdir / "apache", workdir / "c", listen=[f"127.0.0.1:{port}"], command_prefix=sandbox_prefix(workdir)
    ).write_config()
    prepare(workdir)
    apache.start()
    try:
        pid = apache.pid()
        status = Path(f"/proc/{pid}/status").read_text()
        real_uid = int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])
        assert real_uid != 0 if os.geteuid() == 0 else real_uid == os.geteuid()
        assert Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")[0] in (b"PATH=/usr/sbin:/usr/bin", b"")
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        assert b"SECRET_KEY" not in environ and b"HOSTPANEL" not in environ
        root = Path(f"/proc/{pid}/root")
        for path in secrets:
            assert not (root / str(path).lstrip("/")).exists(), path
        assert (root / str(workdir).lstrip("/")).exists()
    finally:
        apache.stop()
