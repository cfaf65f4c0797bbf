"""Private keys in stored trees: a `ConfigTree` (kept for rollbacks and diffs) never holds a key in clear.

    stored = seal_tree(tree)     # every tls/*.key value -> SEALED_PREFIX + Fernet token (certificates.crypto)
    tree = open_tree(stored)     # back to the files a front-end gets (a rollback pushes exactly these)

The MANIFEST is left as it is (sha256 of the clear key: a digest of a random key tells nothing), so the
stored tree's digest is the rendered tree's, and rendering.manifest.tree_diff can tell whether a sealed
key changed without opening it.
"""

from __future__ import annotations

from certificates.crypto import decrypt_secret, encrypt_secret
from rendering.manifest import SEALED_PREFIX, is_private_key


def seal_tree(tree: dict[str, str]) -> dict[str, str]:
    return {
        path: SEALED_PREFIX + encrypt_secret(text.encode("utf-8"))
        if is_private_key(path) and not text.startswith(SEALED_PREFIX)
        else text
        for path, text in tree.items()
    }


def open_tree(files: dict[str, str]) -> dict[str, str]:
    """Raises certificates.crypto.SecretsError when HOSTPANEL_SECRETS_KEY cannot open a sealed key."""
    return {
        path: decrypt_secret(text.removeprefix(SEALED_PREFIX)).decode("utf-8")
        if is_private_key(path) and text.startswith(SEALED_PREFIX)
        else text
        for path, text in files.items()
    }
