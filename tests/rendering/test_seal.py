"""seal_tree patched from a front-end's last sealed tree gives byte for byte what sealing from scratch gives."""

from __future__ import annotations

import pytest

from rendering import cache
from rendering.manifest import MANIFEST, seal_tree
from rendering.routes import RELEASE_FILE


def sealed(tree: dict[str, str], key: str | None) -> tuple[dict[str, str], list[str]]:
    tree = dict(tree)
    order = seal_tree(tree, key=key)
    return tree, order


@pytest.fixture(autouse=True)
def empty_memos():
    cache.clear()
    yield
    cache.clear()


BASE = {f"sites/s{i}.example.conf": f"# site {i}\n" for i in range(50)} | {"hostpanel.conf": "x\n", "tls/a.crt": "c\n"}


@pytest.mark.parametrize(
    "change",
    [
        lambda t: t.update({"sites/s7.example.conf": "# changed\n"}),
        lambda t: t.update({"sites/new.example.conf": "# new\n", "a-first.conf": "first\n"}),
        lambda t: t.pop("sites/s3.example.conf"),
        lambda t: t.update({"hostpanel.conf": "".join(["x", "\n"])}),  # equal text, another object
        lambda t: t.update({"zz.conf": t.pop("sites/s9.example.conf")}),  # renamed
    ],
)
def test_a_patched_seal_is_the_seal_from_scratch(change):
    first, _ = sealed(BASE, "fe1")
    new = dict(BASE)
    change(new)
    patched, order = sealed(new, "fe1")
    cache.clear()
    fresh, fresh_order = sealed(new, None)
    assert patched == fresh and patched[MANIFEST] == fresh[MANIFEST] and patched[RELEASE_FILE] == fresh[RELEASE_FILE]
    assert order == fresh_order == sorted(fresh)
    assert first[MANIFEST] != patched[MANIFEST] or new == BASE


def test_a_file_whose_text_changed_under_the_same_path_gets_its_new_digest_line():
    sealed(BASE, "fe1")
    new = {**BASE, "tls/a.crt": "another certificate\n"}
    patched, _ = sealed(new, "fe1")
    assert patched[MANIFEST] == sealed(new, None)[0][MANIFEST]
