"""Reading a registered front-end's live config over a real sshd on loopback (the deploy transport):
the seed's tree and a generated 300-site tree, symlinks resolved or refused, size caps, and Apache's own
include list (`-D DUMP_INCLUDES`) cross-checked."""

import shutil
from pathlib import Path

import pytest
from django.core.management import call_command

from devrig.apache import apache_binary, standalone_config
from devrig.handwritten import handwritten_tree, write_tree
from hostpanel.models import AuditEntry
from importer.reader import Limits, SourceError
from importer.remote import includes_command, parse_dump_includes
from importer.service import AUDIT_ACTION, import_preview, import_preview_frontend
from importer.tokenizer import ConfigRefused
from sites.models import Site
from tests.realparts import require_binary

DUMP = """Included configuration files:
  (*) /etc/apache2/apache2.conf
    (146) /etc/apache2/mods-enabled/access_compat.load
    (12) /etc/apache2/sites-enabled/a.conf
"""


def test_dump_includes_output_is_read_as_the_list_of_absolute_paths():
    assert parse_dump_includes(DUMP) == [
        "/etc/apache2/apache2.conf",
        "/etc/apache2/mods-enabled/access_compat.load",
        "/etc/apache2/sites-enabled/a.conf",
    ]


def test_the_include_list_command_is_derived_from_the_configtest_command():
    assert includes_command("sudo apache2ctl configtest") == "sudo apache2ctl -t -D DUMP_INCLUDES"
    assert includes_command("apache2 -t -f /x/httpd.conf") == "apache2 -t -f /x/httpd.conf -D DUMP_INCLUDES"
    assert includes_command("true") is None


@pytest.mark.real
def test_the_seed_read_over_ssh_plans_exactly_what_the_copied_directory_plans(ssh_frontend, seed22, tmp_path):
    root = shutil.copytree(seed22, tmp_path / "etc-apache2")
    frontend = ssh_frontend()
    over_ssh = import_preview_frontend(frontend, config_root=str(root))
    copied = import_preview(root)
    assert over_ssh.source == f"front-end fe1:{root}"
    assert sorted(over_ssh.files) == sorted(copied.files) == ["apache2.conf", "httpd.conf", "sites-enabled/linux.co.uk"]
    assert [p.candidate for p in over_ssh.sites] == [p.candidate for p in copied.sites]
    assert [p.candidate for p in over_ssh.members] == [p.candidate for p in copied.members]
    assert [(p.code, p.line) for p in over_ssh.problems] == [(p.code, p.line) for p in copied.problems]
    assert "cannot list includes" in over_ssh.apache_note


def runnable_tree(root: Path, sites: int) -> Path:
    """The generated hand-written tree with a main file Apache can configtest where it lies."""
    files = handwritten_tree(sites)
    files["apache2.conf"] = (
        standalone_config(workdir=root, include=None, listen=["127.0.0.1:65000"])
        + "IncludeOptional conf-enabled/*.conf\nIncludeOptional sites-enabled/*.conf\n"
    ).encode()
    write_tree(files, root)
    (root / "run").mkdir()
    return root


@pytest.mark.real
def test_300_sites_over_ssh_agree_with_apaches_own_include_list_and_import_once(ssh_frontend, tmp_path, capsys):
    require_binary("apache2")
    root = runnable_tree(tmp_path / "etc-apache2", 300)
    frontend = ssh_frontend(configtest_command=f"{apache_binary()} -t -f {root}/apache2.conf")
    plan = import_preview_frontend(frontend, config_root=str(root))
    assert plan.apache_note == "Apache lists 303 included files"
    assert [p for p in plan.problems if p.code == "includes"] == []
    assert len(plan.sites) == 300 and not plan.blocked
    call_command("import_apache", frontend="fe1", config_root=str(root), apply=True)
    assert "Imported: 4 zope servers, 3 balancers, 9 members, 300 sites, 100 aliases." in capsys.readouterr().out
    call_command("import_apache", frontend="fe1", config_root=str(root), apply=True)
    assert "Imported: 0 zope servers, 0 balancers, 0 members, 0 sites, 0 aliases." in capsys.readouterr().out
    assert Site.objects.count() == 300
    assert AuditEntry.objects.filter(action=AUDIT_ACTION).count() == 1


@pytest.mark.real
def test_where_apaches_include_list_and_the_files_read_disagree_each_file_is_a_warning(ssh_frontend, tmp_path):
    require_binary("apache2")
    root = runnable_tree(tmp_path / "etc-apache2", 2)
    # The live Apache runs real.conf (which also includes extra.conf); the import reads apache2.conf.
    (root / "extra.conf").write_text("# read by Apache only\n")
    (root / "real.conf").write_text((root / "apache2.conf").read_text() + "Include extra.conf\n")
    frontend = ssh_frontend(configtest_command=f"{apache_binary()} -t -f {root}/real.conf")
    plan = import_preview_frontend(frontend, config_root=str(root))
    assert sorted(p.message for p in plan.warnings if p.code == "includes") == [
        f"Apache includes {root}/extra.conf, which this import did not read",
        f"Apache includes {root}/real.conf, which this import did not read",
        f"this import read {root}/apache2.conf, which Apache does not include",
    ]


def linked_tree(root: Path, link_target: str) -> Path:
    (root / "sites-available").mkdir(parents=True)
    (root / "sites-enabled").mkdir()
    (root / "apache2.conf").write_text(
        "ServerRoot /etc/apache2\nListen 80\nIncludeOptional sites-enabled/*.conf\n"
        '<Proxy "balancer://bronze">\n    BalancerMember http://10.0.0.11:8080 route=zope1\n'
        "    ProxySet stickysession=BALANCEID\n</Proxy>\n"
    )
    (root / "sites-available" / "a.example.conf").write_text(
        "<VirtualHost *:80>\n    ServerName a.example.com\n    RewriteEngine On\n"
        '    Header add Set-Cookie "BALANCEID=balancer.%{BALANCER_WORKER_ROUTE}e; path=/" env=BALANCER_ROUTE_CHANGED\n'
        "    RewriteRule ^/(.*) balancer://bronze/VirtualHostBase/http/%{SERVER_NAME}:80"
        "/plone/a/VirtualHostRoot/$1 [L,P]\n"
        "</VirtualHost>\n"
    )
    (root / "sites-enabled" / "a.example.conf").symlink_to("../sites-available/a.example.conf")
    (root / "sites-enabled" / "b.conf").symlink_to(link_target)
    return root


@pytest.mark.real
def test_a_symlink_inside_the_root_reads_as_its_target_and_an_unused_link_outside_does_not_matter(
    ssh_frontend, tmp_path
):
    root = linked_tree(tmp_path / "etc-apache2", "../sites-available/a.example.conf")
    (root / "unused").symlink_to("/etc")
    plan = import_preview_frontend(ssh_frontend(), config_root=str(root))
    assert plan.files == ["apache2.conf", "sites-enabled/a.example.conf", "sites-enabled/b.conf"]
    assert [p.candidate.domain for p in plan.sites] == ["a.example.com"]  # b.conf repeats it: shadowed
    assert [p.code for p in plan.warnings] == ["shadowed"]


@pytest.mark.real
@pytest.mark.parametrize(
    ("target", "why"),
    [
        ("/etc/passwd", "a symlink pointing outside the config root (to /etc/passwd)"),
        ("../../outside.conf", "a symlink pointing outside the config root"),
        ("b.conf", "symlink loop"),
        ("missing.conf", "a dangling symlink"),
    ],
)
def test_an_included_symlink_leaving_the_root_or_looping_is_refused_with_the_includes_file_and_line(
    ssh_frontend, tmp_path, target, why
):
    root = linked_tree(tmp_path / "etc-apache2", target)
    (tmp_path / "outside.conf").write_text("# not the front-end's config\n")
    with pytest.raises(ConfigRefused) as refused:
        import_preview_frontend(ssh_frontend(), config_root=str(root))
    assert (refused.value.file, refused.value.line) == ("apache2.conf", 3)
    assert f"sites-enabled/b.conf: {why}" in refused.value.reason


@pytest.mark.real
def test_an_included_file_over_the_size_cap_is_refused_and_nothing_is_downloaded_past_the_total_cap(
    ssh_frontend, tmp_path
):
    root = linked_tree(tmp_path / "etc-apache2", "../sites-available/a.example.conf")
    (root / "sites-enabled" / "big.conf").write_text("# " + "x" * 5000 + "\n")
    with pytest.raises(ConfigRefused, match="sites-enabled/big.conf: larger than 4,000 bytes"):
        import_preview_frontend(ssh_frontend(), config_root=str(root), limits=Limits(max_file_bytes=4000))
    with pytest.raises(SourceError, match="bytes of files, more than 3,000: not read"):
        import_preview_frontend(ssh_frontend(name="fe2"), config_root=str(root), limits=Limits(max_total_bytes=3000))
