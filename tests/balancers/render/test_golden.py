"""Golden files: the demo data (seed_demo: bronze and silver over zope1, zope2 and the hot-standby
backup; linux.co.uk with www.linux.co.uk) rendered for the demo front-end, in both modes.

Regenerate after an intended template change, then review the diff like code:

    HOSTPANEL_UPDATE_GOLDEN=1 /work/main/.venv/bin/pytest tests/balancers/render/test_golden.py
    git diff tests/golden/
"""

import os

import pytest

from balancers.render import render_tree
from balancers.snapshot import load_snapshot
from tests.factories import set_render_mode
from tests.samples import GOLDEN

UPDATE = os.environ.get("HOSTPANEL_UPDATE_GOLDEN") == "1"


@pytest.mark.parametrize("mode", ["single-pass", "node-vhosts"])
def test_the_demo_data_renders_exactly_the_golden_tree(demo, frontend, actor, mode):
    set_render_mode(mode, actor)
    tree = render_tree(load_snapshot(), frontend)
    directory = GOLDEN / mode
    if UPDATE:
        for old in directory.rglob("*"):
            if old.is_file():
                old.unlink()
        for path, text in tree.items():
            (directory / path).parent.mkdir(parents=True, exist_ok=True)
            (directory / path).write_text(text, encoding="utf-8")
    files = [p for p in directory.rglob("*") if p.is_file()]
    golden = {p.relative_to(directory).as_posix(): p.read_text(encoding="utf-8") for p in files}
    assert sorted(tree) == sorted(golden), "files differ; see the module docstring to regenerate"
    for path in tree:
        assert tree[path] == golden[path], f"{mode}/{path} differs from tests/golden; see the module docstring"
