from sites.models import Site


def test_demo_fixture_creates_the_seed_setup(demo):
    assert [m.zope_server.name for m in demo.members.all()] == ["zope1", "zope2", "backup"]
    site = Site.objects.get(domain="linux.co.uk")
    assert site.plone_path == "/plone/linux"
    assert [a.name for a in site.aliases.all()] == ["www.linux.co.uk"]
