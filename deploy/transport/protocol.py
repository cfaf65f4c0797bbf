"""The Transport protocol every front-end operation goes through, its errors, and the local transport.

deploy/ talks to a `Transport` and never knows which one it has: `LocalTransport` (the panel's own
host, only when settings.HOSTPANEL_LOCAL_TRANSPORT allows it) or `deploy.transport.ssh.SSHTransport`. Every
failure is a `TransportError` that says whether retrying can help.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import secrets
import shutil
import stat
import subprocess
import tarfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Protocol, runtime_checkable

from django.conf import settings

from rendering.routes import DERIVED_FILES, ROUTES_DBM, ROUTES_MAP

DEFAULT_COMMAND_TIMEOUT = 60.0
SPARE_LOCK = ".spare.lock"  # in the releases directory: held while a spare is built, and while one is taken
SPARE_WAIT_SECONDS = 60  # a build waits this long at most for the spare being built of its base
TRASH_PREFIX = ".trash-"  # a discarded release or spare, renamed at once and removed in the background


@dataclass(frozen=True)
class Spare:
    """A hard-linked copy of release `base` built after its activation (deploy.swap.spare_path), which the
    next release built on that base takes instead of copying it again. Taken only when it is the copy of
    that very release, untouched: its name (complete copies only get it), its MANIFEST the base's own file
    (same inode) with the base's digest, and every directory's mtime the base's (an entry added, removed
    or replaced in a directory changes its mtime; a file edited in place is the base's file too)."""

    path: str
    base: str
    digest: str  # sha256 of the base's MANIFEST (the name of a release)
    dirs: tuple[str, ...] = (".",)  # the directories of the base's tree, relative to it


@dataclass(frozen=True)
class ManifestPatch:
    """The new MANIFEST as the lines of its base's that change: the base's MANIFEST without the lines of
    `drop` (paths), plus `add` (lines), sorted by path, is the new one when its sha256 is `digest`. A transport
    may send this instead of the whole MANIFEST (2.7 MB at 10,000 HTTPS sites, for a change of a few files)."""

    drop: tuple[str, ...]
    add: str
    digest: str


def spare_usable(spare: Spare) -> bool:
    """`spare` is an untouched copy of its base (Spare's docstring), on a local file system."""
    try:
        if not stat.S_ISDIR(os.lstat(spare.path).st_mode):  # a symlink (to its base: written into) never
            return False
        if not os.path.samefile(f"{spare.path}/MANIFEST", f"{spare.base}/MANIFEST"):
            return False
        with open(f"{spare.path}/MANIFEST", "rb") as fh:
            if hashlib.file_digest(fh, "sha256").hexdigest() != spare.digest:
                return False
        return all(
            os.stat(os.path.join(spare.path, d), follow_symlinks=False).st_mtime_ns
            == os.stat(os.path.join(spare.base, d), follow_symlinks=False).st_mtime_ns
            for d in spare.dirs
        )
    except OSError:
        return False


class TransportError(Exception):
    """A front-end could not be reached or an operation on it failed.

    `retryable` is True when trying again later may succeed (refused/timed-out/dropped
    connection), False when it cannot without a human (wrong host key, rejected login,
    permission denied, missing key file)."""

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class ReadLimits:
    """Caps on what the panel reads from a front-end, so a huge or hostile host cannot exhaust the
    worker's memory: one file, one whole tree (compressed stream and unpacked files alike), one
    command's stdout + stderr (HOSTPANEL_READ_FILE_MAX_BYTES, HOSTPANEL_READ_TREE_MAX_BYTES,
    HOSTPANEL_COMMAND_OUTPUT_MAX_BYTES)."""

    file: int
    tree: int
    output: int

    @classmethod
    def current(cls) -> ReadLimits:
        return cls(
            file=settings.HOSTPANEL_READ_FILE_MAX_BYTES,
            tree=settings.HOSTPANEL_READ_TREE_MAX_BYTES,
            output=settings.HOSTPANEL_COMMAND_OUTPUT_MAX_BYTES,
        )


def too_large(what: str, limit: int, setting: str) -> TransportError:
    return TransportError(
        f"{what} is larger than {limit} bytes ({setting}): refusing to read more of it", retryable=False
    )


@dataclass(frozen=True)
class CommandResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def output(self) -> str:
        """stdout and stderr together, as a person would want to read them."""
        return "\n".join(part for part in (self.stdout.strip(), self.stderr.strip()) if part)


@runtime_checkable
class Transport(Protocol):
    """The operations the deployer needs on a front-end. Paths are absolute POSIX paths."""

    description: str

    def run(
        self, command: str, *, timeout: float = DEFAULT_COMMAND_TIMEOUT, input: bytes | None = None
    ) -> CommandResult:
        """Run a shell command (stdin: `input`), returning its exit code, stdout and stderr."""

    def read_file(self, path: str) -> bytes | None:
        """The file's bytes, or None when it does not exist."""

    def file_digest(self, path: str) -> str | None:
        """sha256 (hex) of the file, computed where it is (not read over the wire); None when it does not
        exist or cannot be read."""

    def write_file(self, path: str, data: bytes, *, atomic: bool = True, mode: int | None = None) -> None:
        """Write a file. atomic=True writes a temporary file and renames it over `path`, so a
        hard-linked previous copy is never modified in place. `mode` (e.g. 0o600 for a private key)
        is set before any byte is written."""

    def mkdir_p(self, path: str) -> None: ...

    def rename(self, src: str, dst: str) -> None:
        """POSIX rename: atomically replaces `dst` when it is a file or a symlink."""

    def readlink(self, path: str) -> str | None:
        """The symlink's target, or None when `path` is not a symlink (or does not exist)."""

    def exists(self, path: str) -> bool: ...

    def is_dir(self, path: str) -> bool: ...

    def list_dir(self, path: str) -> list[str]: ...

    def list_entries(self, path: str) -> list[tuple[str, float]]:
        """(name, mtime) of each entry of a directory; [] when it does not exist."""

    def list_files(self, path: str) -> list[tuple[str, int]]:
        """(name, size in bytes) of each regular file directly in a directory, by name; [] when it does not exist."""

    def stream_file(self, path: str, *, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """A file's bytes in chunks, however large it is (nothing held in memory beyond one chunk): for files
        the caller reads through once, e.g. usage logs. A TransportError when it does not exist."""

    def remove_file(self, path: str) -> bool:
        """Remove one file; False when it was already gone."""

    def symlink_switch(self, link: str, target: str) -> None:
        """Point `link` at `target` atomically: a new symlink under a temporary name, renamed over `link`."""

    def remove_path(self, path: str) -> None:
        """Remove a file, a symlink, or a directory tree; a missing path is not an error."""

    def clone_tree(self, src: str, dst: str) -> None:
        """Copy directory `src` to the new directory `dst` with hard links (cheap; write_file
        with atomic=True never modifies a linked file in place)."""

    def read_tree(self, path: str) -> dict[str, bytes]:
        """{relative path: bytes} of every file under directory `path` (through a symlink); {} if missing."""

    def build_tree(
        self,
        dst: str,
        files: dict[str, bytes],
        *,
        base: str | None = None,
        remove: Iterable[str] = (),
        modes: dict[str, int] | None = None,
        spare: Spare | None = None,
        manifest: ManifestPatch | None = None,
    ) -> bool:
        """Create directory `dst` in one go: a hard-linked copy of `base` (if given) minus `remove`,
        plus `files` ({relative path: bytes}) written as NEW files (never into a linked inode), 0644
        unless `modes` says otherwise for a path (private keys: 0600). The copy of `base` is `spare`
        renamed when it is usable (Spare; a spare still being built is waited for, up to
        SPARE_WAIT_SECONDS), else made now. True when the spare was taken. `manifest`: files[MANIFEST] as a
        patch of the base's (sent instead of it where that is cheaper; the result checked by its digest)."""

    def make_spare(self, release: str, spare: str, *, discard: Iterable[str] = ()) -> None:
        """Rename each path of `discard` (old releases, stale spares: in `release`'s directory) out of the
        way at once, then, off the caller's path where the transport can (in the background on an SSH
        host), build `spare` as a hard-linked copy of `release` (under a temporary name, renamed when
        complete) and remove what was discarded. Best effort: a spare missing later only costs a copy."""

    def close(self) -> None: ...


def temp_name(path: str) -> str:
    p = PurePosixPath(path)
    return str(p.with_name(f".{p.name}.hp-tmp-{secrets.token_hex(4)}"))


def safe_relative(path: str) -> str:
    """A tree path, refused if it could leave the directory it is written into."""
    parts = PurePosixPath(path).parts
    if not parts or path.startswith("/") or ".." in parts:
        raise TransportError(f"refusing the path {path!r}", retryable=False)
    return path


def build_routes_dbm(directory: str | os.PathLike) -> None:
    """Build the routing map's SDBM in `directory` from its routes.map (rendering.routes.DBM_BUILD_SH, for
    a local directory): the old files are removed first (they may be hard links into the previous release)."""
    source = os.path.join(directory, ROUTES_MAP)
    if not os.path.exists(source):
        return
    built = [os.path.join(directory, name) for name in DERIVED_FILES]
    if all(os.path.exists(p) for p in built) and os.stat(source).st_mtime_ns <= os.stat(built[-1]).st_mtime_ns:
        return  # an unchanged base came hard-linked with its SDBM (as DBM_BUILD_SH decides on a front-end)
    candidates = [shutil.which("httxt2dbm"), "/usr/sbin/httxt2dbm", "/usr/bin/httxt2dbm"]  # sbin: not on every PATH
    binary = next((p for p in candidates if p and os.path.exists(p)), None)
    if binary is None:
        raise OSError("httxt2dbm not found: install apache2-utils (it builds routes.dbm from routes.map)")
    for name in DERIVED_FILES:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(directory, name))
    result = subprocess.run(  # noqa: S603 - a fixed program and paths of our own directory
        [binary, "-f", "SDBM", "-i", source, "-o", os.path.join(directory, ROUTES_DBM)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode:
        raise OSError(f"httxt2dbm failed: {(result.stderr or result.stdout).strip()[:500]}")


def tar_files(files: dict[str, bytes], modes: dict[str, int] | None = None) -> bytes:
    """A gzipped tar of {relative path: bytes}, files 0644 (Apache's children must read them) unless
    `modes` gives a path another mode (a private key: 0600, read by Apache's parent as root).
    Gzip level 1: configs compress ~50x and a compressed stream unpacks faster than a plain one."""
    buffer = io.BytesIO()
    now = time.time()
    modes = modes or {}
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for path, data in files.items():
            info = tarfile.TarInfo(safe_relative(path))
            info.size, info.mode, info.mtime = len(data), modes.get(path, 0o644), now
            archive.addfile(info, io.BytesIO(data))
    return gzip.compress(buffer.getvalue(), compresslevel=1)


def untar_files(data: bytes, *, limit: int | None = None, what: str = "the tree") -> dict[str, bytes]:
    """{relative path: bytes} of a gzipped tar; more than `limit` unpacked bytes is refused (a tar bomb)."""
    limit = ReadLimits.current().tree if limit is None else limit
    files: dict[str, bytes] = {}
    total = 0
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for member in archive:
            if member.isfile():
                total += member.size
                if total > limit:
                    raise too_large(what, limit, "HOSTPANEL_READ_TREE_MAX_BYTES")
                name = member.name[2:] if member.name.startswith("./") else member.name
                extracted = archive.extractfile(member)
                files[name] = extracted.read() if extracted else b""
    return files


# --- local ----------------------------------------------------------------------------------


class LocalTransport:
    """A front-end on the panel's own host (single-box installs, the demo): the same interface,
    plain file operations and subprocesses."""

    def __init__(self, description: str = "local") -> None:
        self.description = description

    def _wrap(self, exc: OSError, what: str) -> TransportError:
        return TransportError(f"{what}: {exc.strerror or exc}", retryable=False)

    def run(
        self, command: str, *, timeout: float = DEFAULT_COMMAND_TIMEOUT, input: bytes | None = None
    ) -> CommandResult:
        try:
            proc = subprocess.run(  # noqa: S602 - the command is the front-end's configured shell command
                command, shell=True, capture_output=True, timeout=timeout, input=input or b""
            )
        except subprocess.TimeoutExpired:
            raise TransportError(f"command timed out after {timeout:g} s: {command}", retryable=True) from None
        limit = ReadLimits.current().output
        if len(proc.stdout) + len(proc.stderr) > limit:
            raise too_large(f"the output of {command}", limit, "HOSTPANEL_COMMAND_OUTPUT_MAX_BYTES")
        return CommandResult(
            proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")
        )

    def list_entries(self, path: str) -> list[tuple[str, float]]:
        return [(name, os.lstat(os.path.join(path, name)).st_mtime) for name in self.list_dir(path)]

    def read_tree(self, path: str) -> dict[str, bytes]:
        root = path.rstrip("/") + "/"
        files: dict[str, bytes] = {}
        limit, total = ReadLimits.current().tree, 0
        try:
            for directory, _, names in os.walk(root):
                for name in names:
                    full = os.path.join(directory, name)
                    if os.path.dirname(full) == root.rstrip("/") and name in DERIVED_FILES:
                        continue  # built on the host from routes.map, not part of the tree
                    total += os.path.getsize(full)
                    if total > limit:
                        raise too_large(path, limit, "HOSTPANEL_READ_TREE_MAX_BYTES")
                    with open(full, "rb") as fh:
                        files[os.path.relpath(full, root)] = fh.read()
        except OSError as exc:
            raise self._wrap(exc, f"cannot read {path}") from exc
        return files

    def build_tree(
        self,
        dst: str,
        files: dict[str, bytes],
        *,
        base: str | None = None,
        remove: Iterable[str] = (),
        modes: dict[str, int] | None = None,
        spare: Spare | None = None,
        manifest: ManifestPatch | None = None,  # a local write of the whole MANIFEST costs no transfer
    ) -> bool:
        modes = modes or {}
        taken = False
        if base and spare is not None and spare.base == base and spare_usable(spare):
            self.rename(spare.path, dst)  # make_spare builds it before it returns: nothing to wait for
            taken = True
        elif base:
            self.clone_tree(base, dst)
        else:
            self.mkdir_p(dst)
        for path in remove:
            self.remove_path(os.path.join(dst, safe_relative(path)))
        made: set[str] = set()
        for path, data in files.items():
            target = os.path.join(dst, safe_relative(path))
            parent = os.path.dirname(target)
            if parent not in made:
                self.mkdir_p(parent)
                made.add(parent)
            self.write_file(target, data, atomic=True, mode=modes.get(path))
        try:
            build_routes_dbm(dst)
        except OSError as exc:
            raise TransportError(f"cannot build {dst}: {exc}", retryable=False) from exc
        return taken

    def make_spare(self, release: str, spare: str, *, discard: Iterable[str] = ()) -> None:
        # on the panel's own host: at once (single-box installs and tests), not in the background
        for path in discard:
            self.remove_path(path)
        temporary = f"{spare}.tmp-{secrets.token_hex(4)}"
        self.clone_tree(release, temporary)
        self.rename(temporary, spare)

    def file_digest(self, path: str) -> str | None:
        try:
            with open(path, "rb") as fh:
                return hashlib.file_digest(fh, "sha256").hexdigest()
        except OSError:
            return None

    def read_file(self, path: str) -> bytes | None:
        limit = ReadLimits.current().file
        try:
            with open(path, "rb") as fh:
                data = fh.read(limit + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._wrap(exc, f"cannot read {path}") from exc
        if len(data) > limit:
            raise too_large(path, limit, "HOSTPANEL_READ_FILE_MAX_BYTES")
        return data

    def write_file(self, path: str, data: bytes, *, atomic: bool = True, mode: int | None = None) -> None:
        target = temp_name(path) if atomic else path
        try:
            with open(target, "wb") as fh:
                if mode is not None:
                    os.fchmod(fh.fileno(), mode)
                fh.write(data)
            if atomic:
                os.replace(target, path)
        except OSError as exc:
            raise self._wrap(exc, f"cannot write {path}") from exc

    def mkdir_p(self, path: str) -> None:
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as exc:
            raise self._wrap(exc, f"cannot create {path}") from exc

    def rename(self, src: str, dst: str) -> None:
        try:
            os.replace(src, dst)
        except OSError as exc:
            raise self._wrap(exc, f"cannot rename {src} to {dst}") from exc

    def readlink(self, path: str) -> str | None:
        try:
            return os.readlink(path)
        except (FileNotFoundError, OSError):
            return None

    def exists(self, path: str) -> bool:
        return os.path.lexists(path)

    def is_dir(self, path: str) -> bool:
        return os.path.isdir(path)

    def list_dir(self, path: str) -> list[str]:
        try:
            return sorted(os.listdir(path))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise self._wrap(exc, f"cannot list {path}") from exc

    def list_files(self, path: str) -> list[tuple[str, int]]:
        try:
            with os.scandir(path) as entries:
                return sorted((e.name, e.stat().st_size) for e in entries if e.is_file(follow_symlinks=False))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise self._wrap(exc, f"cannot list {path}") from exc

    def stream_file(self, path: str, *, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        try:
            with open(path, "rb") as fh:
                while chunk := fh.read(chunk_size):
                    yield chunk
        except OSError as exc:
            raise self._wrap(exc, f"cannot read {path}") from exc

    def remove_file(self, path: str) -> bool:
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise self._wrap(exc, f"cannot remove {path}") from exc
        return True

    def symlink_switch(self, link: str, target: str) -> None:
        tmp = temp_name(link)
        try:
            os.symlink(target, tmp)
            os.replace(tmp, link)
        except OSError as exc:
            raise self._wrap(exc, f"cannot point {link} at {target}") from exc

    def remove_path(self, path: str) -> None:
        try:
            if os.path.islink(path) or os.path.isfile(path):
                os.unlink(path)
            elif os.path.isdir(path):
                shutil.rmtree(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise self._wrap(exc, f"cannot remove {path}") from exc

    def clone_tree(self, src: str, dst: str) -> None:
        try:
            shutil.copytree(src, dst, copy_function=os.link, symlinks=True)
        except OSError as exc:
            raise self._wrap(exc, f"cannot copy {src} to {dst}") from exc

    def close(self) -> None:
        pass
