"""Confinement for the equivalence check's throwaway Apaches, which run an imported config on the panel host.

    prefix = sandbox_prefix(workdir)      # ["setpriv", ..., "bwrap", ..., "--"]: put before apache2's argv
    prepare(workdir)                      # hand the check's directory to the sandbox user

The allowlist (importer.allowlist) decides what of an imported config runs; this is the
second wall, for whatever the allowlist gets wrong. The Apache runs

- as an unprivileged user: `nobody` when the panel runs as root (setpriv drops to it before anything
  else runs), else the panel's own user inside a user namespace;
- with an empty environment (no SECRET_KEY, DATABASE_URL, HOSTPANEL_* or anything else of the panel's);
- in a mount namespace (bubblewrap) whose filesystem is the system's read-only /usr (programs and
  Apache's modules), /etc/mime.types, a fresh /dev, an empty /tmp and the check's own directory: the
  panel's code, `var/` (database, `secret_key`, `secrets_key`), SSH keys and /etc are not there at all;
- in its own IPC and UTS namespaces (it shares the network: the check talks to it on loopback).

Without bubblewrap the check does not run (SandboxUnavailable says how to install it): running an
imported config unconfined is never the fallback.
"""

from __future__ import annotations

import os
import pwd
import shutil
from pathlib import Path

SANDBOX_USER = "nobody"  # when the panel runs as root; otherwise the panel's own (unprivileged) user


class SandboxUnavailable(RuntimeError):
    pass


def _ids() -> tuple[int, int] | None:
    """The uid/gid to drop to (we are root), or None (we are not root: nothing to drop)."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(SANDBOX_USER)
        return entry.pw_uid, entry.pw_gid
    except KeyError:
        return 65534, 65534


def sandbox_prefix(workdir: Path) -> list[str]:
    """The command line that runs a program confined to workdir (see the module docstring)."""
    bwrap = shutil.which("bwrap")
    if not bwrap:
        raise SandboxUnavailable(
            "the equivalence check runs an imported config only inside a sandbox, and bubblewrap is not "
            "installed: apt-get install bubblewrap"
        )
    prefix: list[str] = []
    ids = _ids()
    if ids is not None:
        setpriv = shutil.which("setpriv") or "/usr/bin/setpriv"
        prefix = [setpriv, f"--reuid={ids[0]}", f"--regid={ids[1]}", "--clear-groups", "--inh-caps=-all"]
    workdir = str(Path(workdir).resolve())
    prefix += [
        bwrap,
        "--ro-bind",
        "/usr",
        "/usr",
        *[arg for link in ("bin", "sbin", "lib", "lib64") for arg in _usr_link(link)],
        "--ro-bind-try",
        "/etc/mime.types",
        "/etc/mime.types",
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",  # noqa: S108 -- an empty tmpfs inside the sandbox, not a file of ours
        "--bind",
        workdir,
        workdir,
        "--chdir",
        workdir,
        "--clearenv",
        "--setenv",
        "PATH",
        "/usr/sbin:/usr/bin",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--new-session",
        "--",
    ]
    return prefix


def _usr_link(name: str) -> list[str]:
    """/bin, /lib ... as on the host: a symlink into /usr (merged /usr), or a read-only bind of the directory."""
    path = Path("/") / name
    if path.is_symlink():
        return ["--symlink", os.readlink(path), str(path)]
    if path.is_dir():
        return ["--ro-bind", str(path), str(path)]
    return []


def prepare(workdir: Path) -> None:
    """Give the sandbox user the check's directory (and a way into it): when we are root, chown it to
    `nobody` and let it traverse the directories above."""
    ids = _ids()
    if ids is None:
        return
    workdir = Path(workdir).resolve()
    for root, dirs, files in os.walk(workdir):
        os.chown(root, *ids)
        for name in [*dirs, *files]:
            os.lchown(os.path.join(root, name), *ids)
    for parent in workdir.parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)
