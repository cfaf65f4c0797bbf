import pytest
from django.core.management import CommandError, call_command

from balancers.models import ZopeServer
from hostpanel.models import AuditEntry
from sites.models import Site
from tests.samples import FIXTURES as SAMPLE_FIXTURES

pytestmark = pytest.mark.django_db


def test_without_apply_it_previews_counts_problems_and_every_unrecognised_directive(seed22, capsys):
    (seed22 / "apache2.conf").read_text()
    call_command("import_apache", from_dir=str(seed22))
    out = capsys.readouterr().out
    assert "sites             1 to create" in out
    assert "linux.co.uk" in out and "/plone/linux" in out
    assert "httpd.conf:19: member http://node1 route=zope2" in out
    assert "httpd.conf:23: Allow from all  -> Apache 2.2 access control" in out
    assert "LoadModule x4: apache2.conf:11" in out
    assert "Preview only" in out
    assert not ZopeServer.objects.exists()


def test_unrecognised_directives_are_printed_with_file_and_line(tree, capsys):
    root = tree({"apache2.conf": "Listen 80\nSSLEngine on\n"})
    call_command("import_apache", from_dir=str(root))
    assert "apache2.conf:2: SSLEngine on  -- server-level directive not modelled" in capsys.readouterr().out


def test_apply_refuses_warnings_unless_accepted_then_imports(seed22, capsys):
    with pytest.raises(CommandError, match="nothing was written"):
        call_command("import_apache", from_dir=str(seed22), apply=True)
    assert not Site.objects.exists()
    call_command("import_apache", from_dir=str(seed22), apply=True, accept_warnings=True)
    assert "Imported: 2 zope servers, 1 balancers, 2 members, 1 sites, 0 aliases." in capsys.readouterr().out
    assert AuditEntry.objects.filter(action="import.apply").count() == 1


def test_a_refused_config_is_reported_with_file_and_line(tree):
    root = tree({"apache2.conf": "Include ../../etc/passwd\n"})
    with pytest.raises(CommandError, match=r"refused, nothing imported: apache2.conf:1: .*outside the config root"):
        call_command("import_apache", from_dir=str(root))


def test_an_unknown_frontend_is_refused_by_name():
    with pytest.raises(CommandError, match="There is no front-end named 'fe1'"):
        call_command("import_apache", frontend="fe1")


def test_a_hand_written_tree_prints_the_site_left_out_and_the_rules_that_become_options(capsys):
    call_command("import_apache", from_dir=str(SAMPLE_FIXTURES / "importer" / "corpus" / "10-freia-manage-block"))
    out = capsys.readouterr().out
    assert "Sites left out (the rest is imported): 1" in out
    assert "www.freia-example.jp: its VirtualHostMonster rule serves the Zope root, not a Plone site" in out
    assert "intranet.freia-example.jp: structured site option manage_access = blocked" in out
    assert "after the options change lands" not in out
