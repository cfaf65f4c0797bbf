"""Real Plone 6.2 (devrig.plone) and a real Volto 18 build (devrig.volto) for tests/plone6/: two Zope instances with
separate databases and one Volto server, started once per
pytest worker and stopped at its end. A part that is not built (bin/test builds it) skips locally and fails in CI
(MissingPart, tests/realparts.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from devrig import plone, volto


@pytest.fixture(scope="session")
def plone_zopes(tmp_path_factory) -> Iterator[list[plone.ZopeInstance]]:
    """Zope instances a and b, each with a Classic site at /Plone and a Volto site at /Volto, separate ZODBs."""
    part = plone.built()
    started = time.monotonic()
    zopes = plone.start_zopes(tmp_path_factory.mktemp("plone"), part, count=2)
    print(f"plone6: two Zope instances answered in {time.monotonic() - started:.1f} s")
    yield zopes
    plone.stop_all(zopes)


@pytest.fixture(scope="session")
def volto_node(plone_zopes, tmp_path_factory) -> Iterator[volto.VoltoServer]:
    """The Volto 18 production build serving on a free port, rendering pages from Zope a's Volto site."""
    part = volto.built()
    node = volto.VoltoServer(
        part,
        internal_api=plone_zopes[0].url(plone.VOLTO_PATH),
        log=tmp_path_factory.mktemp("volto") / "volto.log",
    ).start()
    print(f"plone6: Volto answered /ok in {node.started_in:.1f} s")
    yield node
    node.stop()
