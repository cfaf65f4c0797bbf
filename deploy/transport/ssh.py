"""The SSH transport: how the panel reaches a remote front-end's file system and shell.

This is the ONLY module that imports paramiko. It implements deploy.transport.protocol.Transport, and
`open_transport` picks the transport a front-end uses (SSH, or local where settings allow it).

SSH security: the panel's private key comes from settings.HOSTPANEL_SSH_KEY (a file path, never
the database); the host key is PINNED to FrontEnd.ssh_host_key and anything else — another key,
or a host that only offers a key of another type — is refused before authentication.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import secrets
import shlex
import socket
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

import paramiko
from django.conf import settings

from deploy.transport.protocol import (
    DEFAULT_COMMAND_TIMEOUT,
    SPARE_LOCK,
    SPARE_WAIT_SECONDS,
    TRASH_PREFIX,
    CommandResult,
    ManifestPatch,
    ReadLimits,
    Spare,
    TransportError,
    safe_relative,
    tar_files,
    temp_name,
    too_large,
    untar_files,
)
from rendering.manifest import DIGEST, MANIFEST
from rendering.routes import DBM_BUILD_SH, DERIVED_FILES

if TYPE_CHECKING:
    from balancers.models import FrontEnd

_READ_CHUNK = 65536
SPARE_TAKEN = "hostpanel: spare taken"


_PATCH_DROP, _PATCH_ADD, _PATCH_NEW = ".hp-manifest-drop", ".hp-manifest-add", ".hp-manifest-new"
_PATCH_MISMATCH = 75


class _PatchMismatch(Exception):
    """The MANIFEST rebuilt on the host from a patch is not the one wanted (its digest differs)."""


def _patch_manifest_sh(digest: str) -> str:
    """Shell, in the staging directory: MANIFEST rebuilt in one pass over the base's (a hard link: replaced,
    never written into), without the dropped paths' lines and with the added lines (sorted by path) merged in
    by path (bytes: LC_ALL=C; the paths are ASCII, rendering.manifest), kept only when its sha256 is `digest`
    (else exit _PATCH_MISMATCH)."""
    q = shlex.quote
    merge = (  # a line is `<64 hex>  <path>`: its path starts at column 67
        "BEGIN { while ((getline p < drop) > 0) gone[p] = 1; more = (getline a < add) > 0 } "
        "{ path = substr($0, 67); while (more && substr(a, 67) < path) { print a; more = (getline a < add) > 0 } "
        "if (!(path in gone)) print } "
        "END { while (more) { print a; more = (getline a < add) > 0 } }"
    )
    return "\n".join(
        [
            f"LC_ALL=C awk -v drop={_PATCH_DROP} -v add={_PATCH_ADD} {q(merge)} {MANIFEST} > {_PATCH_NEW}",
            f"rm -f {_PATCH_DROP} {_PATCH_ADD}",
            f'if [ "$(sha256sum < {_PATCH_NEW})" != {q(digest + "  -")} ]; then rm -f {_PATCH_NEW}; '
            f"exit {_PATCH_MISMATCH}; fi",
            f"chmod 644 {_PATCH_NEW}",
            f"mv -f -- {_PATCH_NEW} {MANIFEST}",  # a new inode: the base's MANIFEST stays as it was
        ]
    )


def _take_spare_sh(spare: Spare, dst: str) -> str:
    """Shell: rename `spare` to `dst` when it is usable (protocol.Spare), else copy its base; the lock waits
    (bounded) for a spare still being built (make_spare). Whatever goes wrong with the spare or its lock
    (even a lock file that cannot be opened), the base is copied: the build never fails for it."""
    q = shlex.quote
    s, b = spare.path, spare.base
    dirs = " ".join(q(d) for d in spare.dirs)
    lock = q(f"{PurePosixPath(s).parent}/{SPARE_LOCK}")
    usable = (
        f"[ -d {q(s)} ] && [ ! -L {q(s)} ] && [ {q(s + '/MANIFEST')} -ef {q(b + '/MANIFEST')} ] "
        f'&& [ "$(sha256sum < {q(s + "/MANIFEST")})" = {q(spare.digest + "  -")} ] '
        f'&& [ "$(cd -- {q(s)} && stat -c %y -- {dirs})" = "$(cd -- {q(b)} && stat -c %y -- {dirs})" ]'
    )
    return "\n".join(
        [
            f"{{ if command -v flock >/dev/null; then flock -w {SPARE_WAIT_SECONDS} 9 || true; fi",
            f"  if {usable}; then mv -T -- {q(s)} {q(dst)} && echo {q(SPARE_TAKEN)}; fi",
            f"}} 9>>{lock} || true",
            f"[ -e {q(dst)} ] || cp -al -- {q(b)} {q(dst)}",
        ]
    )


def key_fingerprint(key_line_or_blob: str | bytes) -> str:
    """OpenSSH-style SHA256 fingerprint of a public key line (`type base64 [comment]`) or raw blob."""
    blob = base64.b64decode(key_line_or_blob.split()[1]) if isinstance(key_line_or_blob, str) else key_line_or_blob
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


# --- SSH ------------------------------------------------------------------------------------


class PinnedHostKeyPolicy(paramiko.MissingHostKeyPolicy):
    """Called by paramiko when the host presents a key that is not the pinned one's type: refuse.
    (A key of the pinned type that differs raises BadHostKeyException before this is consulted.)"""

    def __init__(self, pinned_line: str) -> None:
        self.pinned_line = pinned_line

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        raise TransportError(
            f"host key refused for {hostname}: it presented {key.get_name()} {key_fingerprint(key.asbytes())}, "
            f"but the pinned key is {self.pinned_line.split()[0]} {key_fingerprint(self.pinned_line)}. "
            "If the host was really reinstalled, update the front-end's host key.",
            retryable=False,
        )


def _pinned_key(line: str) -> paramiko.PKey:
    parts = (line or "").strip().split()
    if len(parts) < 2:
        raise TransportError("the front-end has no SSH host key pinned; set it before deploying", retryable=False)
    try:
        return paramiko.PKey.from_type_string(parts[0], base64.b64decode(parts[1]))
    except Exception as exc:  # noqa: BLE001 - paramiko raises assorted types for bad key data
        raise TransportError(f"the pinned host key cannot be read: {exc}", retryable=False) from None


def _client_key(path: str) -> paramiko.PKey:
    if not path:
        raise TransportError("HOSTPANEL_SSH_KEY is not set: point it at the panel's private key file", retryable=False)
    try:
        return paramiko.PKey.from_path(path)
    except FileNotFoundError:
        raise TransportError(f"the SSH key file {path} does not exist (HOSTPANEL_SSH_KEY)", retryable=False) from None
    except (paramiko.SSHException, OSError, ValueError) as exc:
        raise TransportError(f"the SSH key file {path} cannot be used: {exc}", retryable=False) from None


class SSHTransport:
    """A front-end reached over SSH: commands on a session channel, files over SFTP."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        user: str,
        host_key: str,
        key_path: str | None = None,
        timeout: float | None = None,
    ) -> None:
        self.host, self.port, self.user = host, port, user
        self.description = f"{user}@{host}:{port}"
        self.timeout = float(timeout if timeout is not None else settings.HOSTPANEL_SSH_TIMEOUT)
        pinned = _pinned_key(host_key)
        pkey = _client_key(key_path if key_path is not None else settings.HOSTPANEL_SSH_KEY)
        self._client = paramiko.SSHClient()
        # Never load ~/.ssh/known_hosts or /etc/ssh: the database's pinned key is the only trusted one.
        name = host if port == 22 else f"[{host}]:{port}"
        self._client.get_host_keys().add(name, pinned.get_name(), pinned)
        self._client.set_missing_host_key_policy(PinnedHostKeyPolicy(host_key.strip()))
        try:
            sock = socket.create_connection((host, port), timeout=self.timeout)
            # small request/response exchanges (SFTP, exec): without NODELAY each waits for a delayed ACK
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._client.connect(
                host,
                port=port,
                sock=sock,
                username=user,
                pkey=pkey,
                timeout=self.timeout,
                banner_timeout=self.timeout,
                auth_timeout=self.timeout,
                channel_timeout=self.timeout,
                allow_agent=False,
                look_for_keys=False,
            )
        except TransportError:
            self._client.close()
            raise
        except paramiko.BadHostKeyException as exc:
            self._client.close()
            raise TransportError(
                f"host key mismatch for {self.description}: it presented {exc.key.get_name()} "
                f"{key_fingerprint(exc.key.asbytes())}, the pinned key is {key_fingerprint(host_key)}. "
                "Refusing to connect (possible man-in-the-middle, or the host was reinstalled).",
                retryable=False,
            ) from None
        except paramiko.AuthenticationException as exc:
            self._client.close()
            raise TransportError(
                f"login as {user} on {host}:{port} was refused ({exc}); is the panel's public key in "
                f"~{user}/.ssh/authorized_keys?",
                retryable=False,
            ) from None
        except TimeoutError:
            self._client.close()
            raise TransportError(
                f"cannot connect to {host}:{port}: timed out after {self.timeout:g} s", retryable=True
            ) from None
        except OSError as exc:
            self._client.close()
            # paramiko wraps per-address errors (NoValidConnectionsError); show the first real reason
            inner = next(iter(getattr(exc, "errors", {}).values()), exc)
            reason = getattr(inner, "strerror", None) or str(inner)
            raise TransportError(f"cannot connect to {host}:{port}: {reason}", retryable=True) from None
        except (paramiko.SSHException, EOFError) as exc:
            self._client.close()
            raise TransportError(f"SSH connection to {host}:{port} failed: {exc}", retryable=True) from None
        self._sftp: paramiko.SFTPClient | None = None

    @classmethod
    def for_frontend(cls, frontend: FrontEnd, **kwargs) -> SSHTransport:
        return cls(
            host=frontend.address,
            port=frontend.ssh_port,
            user=frontend.ssh_user,
            host_key=frontend.ssh_host_key,
            **kwargs,
        )

    def probe(self, *, quick: bool = False) -> bool:
        """Is the connection usable? quick: only what paramiko already knows; else one SFTP round trip."""
        if not self._alive():
            return False
        if quick:
            return True
        try:
            self.sftp.stat(".")
            return True
        except Exception:  # noqa: BLE001 - any failure means: do not reuse
            return False

    # errors -----------------------------------------------------------------------------------
    def _alive(self) -> bool:
        transport = self._client.get_transport()
        return bool(transport and transport.is_active())

    def _error(self, exc: BaseException, what: str) -> TransportError:
        if isinstance(exc, TransportError):
            return exc
        if not self._alive():
            return TransportError(f"connection to {self.description} dropped while trying to {what}", True)
        if isinstance(exc, OSError) and exc.errno is not None:
            return TransportError(f"cannot {what}: {exc.strerror or exc}", retryable=False)
        if isinstance(exc, EOFError | TimeoutError | paramiko.SSHException):
            return TransportError(f"cannot {what}: {exc or type(exc).__name__}", retryable=True)
        return TransportError(f"cannot {what}: {exc}", retryable=False)

    @property
    def sftp(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            try:
                self._sftp = self._client.open_sftp()
                channel = self._sftp.get_channel()
                assert channel is not None  # an open SFTP session always has its channel
                channel.settimeout(max(self.timeout, 30.0))
            except Exception as exc:  # noqa: BLE001
                raise self._error(exc, "open SFTP") from None
        return self._sftp

    # commands ---------------------------------------------------------------------------------
    def run(
        self, command: str, *, timeout: float = DEFAULT_COMMAND_TIMEOUT, input: bytes | None = None
    ) -> CommandResult:
        code, out, err = self._exec(command, timeout=timeout, input=input)
        return CommandResult(code, out.decode(errors="replace"), err.decode(errors="replace"))

    def _exec(
        self, command: str, *, timeout: float, input: bytes | None = None, limit: int | None = None
    ) -> tuple[int, bytes, bytes]:
        limit, setting = (
            (ReadLimits.current().output, "HOSTPANEL_COMMAND_OUTPUT_MAX_BYTES")
            if limit is None
            else (limit, "HOSTPANEL_READ_TREE_MAX_BYTES")
        )
        try:
            transport = self._client.get_transport()
            if transport is None or not transport.is_active():
                raise TransportError(f"connection to {self.description} is closed", retryable=True)
            channel = transport.open_session(timeout=self.timeout)
            channel.exec_command(command)
            if input:
                self._send_input(channel, input, command)
            channel.shutdown_write()
            out, err = bytearray(), bytearray()
            deadline = time.monotonic() + timeout
            while True:
                progressed = False
                while channel.recv_ready():
                    out += channel.recv(_READ_CHUNK)
                    progressed = True
                while channel.recv_stderr_ready():
                    err += channel.recv_stderr(_READ_CHUNK)
                    progressed = True
                if len(out) + len(err) > limit:
                    channel.close()
                    raise too_large(f"the output of {command}", limit, setting)
                # The end is the channel's EOF, not its exit status: sshd may send exit-status while the
                # command's last output is still in its pipe (seen: a tree read that returned nothing).
                if (
                    (channel.eof_received or channel.closed)
                    and channel.exit_status_ready()
                    and not channel.recv_ready()
                    and not channel.recv_stderr_ready()
                ):
                    break
                if not transport.is_active():
                    raise TransportError(f"connection to {self.description} dropped while running: {command}", True)
                if time.monotonic() > deadline:
                    channel.close()
                    raise TransportError(f"command timed out after {timeout:g} s: {command}", retryable=True)
                if not progressed:
                    # Not select() on the channel: its fileno() makes paramiko open a pipe per command, which
                    # its transport thread writes to while close() frees the fds (an unguarded race on fd
                    # numbers); the exit status wakes this at once, new output within 5 ms.
                    if channel.exit_status_ready():
                        time.sleep(0.001)  # exited, its last output and EOF on their way
                    else:
                        channel.status_event.wait(0.005)
            code = channel.recv_exit_status()
            channel.close()
        except TransportError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc, f"run {command}") from None
        return code, bytes(out), bytes(err)

    def _send_input(self, channel: paramiko.Channel, data: bytes, command: str) -> None:
        """A command's stdin within HOSTPANEL_SSH_UPLOAD_SECONDS of wall clock: sendall() would wait forever
        for a host that stops reading (the SSH window stays full), holding the front-end's lease."""
        seconds = float(settings.HOSTPANEL_SSH_UPLOAD_SECONDS)
        deadline, sent = time.monotonic() + seconds, 0
        channel.settimeout(min(1.0, seconds))  # each send waits this long at most for window space
        while sent < len(data):
            if time.monotonic() > deadline:
                channel.close()
                raise TransportError(
                    f"upload to {self.description} stalled: {sent} of {len(data)} bytes sent in {seconds:g} s "
                    f"(HOSTPANEL_SSH_UPLOAD_SECONDS): {command}",
                    retryable=True,
                )
            with contextlib.suppress(TimeoutError):
                count = channel.send(data[sent : sent + _READ_CHUNK])
                if count == 0:
                    break  # the command closed its input: its exit status says why
                sent += count
        channel.settimeout(None)

    def read_tree(self, path: str) -> dict[str, bytes]:
        # one stream instead of a few SFTP round trips per file (1,000 vhosts: ~0.1 s instead of seconds)
        limit = ReadLimits.current().tree
        code, out, err = self._exec(
            f"cd -- {shlex.quote(path.rstrip('/') + '/')} 2>/dev/null || exit 0; tar -c -z -f - "
            + " ".join(f"--exclude=./{name}" for name in DERIVED_FILES)  # built on the host, not ours to read
            + " .",
            timeout=max(self.timeout, 120.0),
            limit=limit,
        )
        if code != 0:
            raise TransportError(f"cannot read {path}: {err.decode(errors='replace').strip()[:500]}", retryable=False)
        return untar_files(out, limit=limit, what=path) if out else {}

    # files --------------------------------------------------------------------------------------
    def file_digest(self, path: str) -> str | None:
        result = self.run(f"sha256sum -- {shlex.quote(path)}", timeout=self.timeout)
        digest = result.stdout.split(" ", 1)[0] if result.ok else ""
        return digest if DIGEST.fullmatch(digest) else None

    def read_file(self, path: str) -> bytes | None:
        limit = ReadLimits.current().file
        try:
            with self.sftp.open(path, "rb") as fh:
                if (fh.stat().st_size or 0) > limit:
                    raise too_large(path, limit, "HOSTPANEL_READ_FILE_MAX_BYTES")
                fh.prefetch()
                data = fh.read(limit + 1)
        except FileNotFoundError:
            return None
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc, f"read {path}") from None
        if len(data) > limit:  # the file grew while it was read
            raise too_large(path, limit, "HOSTPANEL_READ_FILE_MAX_BYTES")
        return data

    def write_file(self, path: str, data: bytes, *, atomic: bool = True, mode: int | None = None) -> None:
        target = temp_name(path) if atomic else path
        try:
            with self.sftp.open(target, "wb") as fh:
                if mode is not None:
                    fh.chmod(mode)  # before the first byte: a key is never readable by others, not even briefly
                fh.set_pipelined(True)
                fh.write(data)
            if atomic:
                self.sftp.posix_rename(target, path)
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc, f"write {path}") from None

    def mkdir_p(self, path: str) -> None:
        try:
            if self.is_dir(path):
                return
            parent = str(PurePosixPath(path).parent)
            if parent != path:
                self.mkdir_p(parent)
            try:
                self.sftp.mkdir(path)
            except OSError:
                if not self.is_dir(path):  # another process may have created it meanwhile
                    raise
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc, f"create {path}") from None

    def rename(self, src: str, dst: str) -> None:
        try:
            self.sftp.posix_rename(src, dst)
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc, f"rename {src} to {dst}") from None

    def _look[T](self, what: str, look: Callable[[], T], missing: T) -> T:
        """One SFTP look at a path: `missing` when it does not exist, a TransportError for anything else."""
        try:
            return look()
        except FileNotFoundError:
            return missing
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc, what) from None

    def readlink(self, path: str) -> str | None:
        def link() -> str | None:
            return self.sftp.readlink(path) if stat.S_ISLNK(self.sftp.lstat(path).st_mode or 0) else None

        return self._look(f"read the link {path}", link, None)

    def exists(self, path: str) -> bool:
        return self._look(f"look at {path}", lambda: self.sftp.lstat(path) is not None, False)

    def is_dir(self, path: str) -> bool:
        return self._look(f"look at {path}", lambda: stat.S_ISDIR(self.sftp.stat(path).st_mode or 0), False)

    def list_dir(self, path: str) -> list[str]:
        return self._look(f"list {path}", lambda: sorted(self.sftp.listdir(path)), [])

    def symlink_switch(self, link: str, target: str) -> None:
        tmp = temp_name(link)
        try:
            # paramiko's symlink(source, dest) creates `dest` pointing at `source`.
            self.sftp.symlink(target, tmp)
            self.sftp.posix_rename(tmp, link)
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc, f"point {link} at {target}") from None

    def list_entries(self, path: str) -> list[tuple[str, float]]:
        def entries() -> list[tuple[str, float]]:
            return sorted((a.filename, float(a.st_mtime or 0)) for a in self.sftp.listdir_attr(path))

        return self._look(f"list {path}", entries, [])

    def list_files(self, path: str) -> list[tuple[str, int]]:
        def files() -> list[tuple[str, int]]:
            return sorted(
                (a.filename, int(a.st_size or 0)) for a in self.sftp.listdir_attr(path) if stat.S_ISREG(a.st_mode or 0)
            )

        return self._look(f"list {path}", files, [])

    def stream_file(self, path: str, *, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        try:
            with self.sftp.open(path, "rb") as fh:
                # pipelined reads (a round trip per file, not per block), at most 64 blocks (2 MB) in flight
                fh.prefetch(max_concurrent_requests=64)
                while True:
                    chunk = fh.read(chunk_size)
                    if not chunk:
                        return
                    yield chunk
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc, f"read {path}") from None

    def remove_file(self, path: str) -> bool:
        try:
            self.sftp.remove(path)
        except FileNotFoundError:
            return False
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc, f"remove {path}") from None
        return True

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
        # One command and one stream instead of a few SFTP round trips per file: copy (hard links) or take
        # the spare copy, delete, and unpack a tar of the changed files; `tar -U` unlinks a linked file
        # before writing.
        if manifest is not None and base and MANIFEST in files:
            try:
                return self._build_tree(dst, files, base=base, remove=remove, modes=modes, spare=spare, patch=manifest)
            except _PatchMismatch:
                # never expected (the base's MANIFEST was checked by its digest): the whole one, on a new copy
                self.remove_path(dst)
        return self._build_tree(dst, files, base=base, remove=remove, modes=modes, spare=spare)

    def _build_tree(
        self,
        dst: str,
        files: dict[str, bytes],
        *,
        base: str | None,
        remove: Iterable[str],
        modes: dict[str, int] | None,
        spare: Spare | None,
        patch: ManifestPatch | None = None,
    ) -> bool:
        q = shlex.quote
        steps = ["set -e"]
        if base and spare is not None and spare.base == base:
            steps.append(_take_spare_sh(spare, dst))
        else:
            steps.append(f"cp -al -- {q(base)} {q(dst)}" if base else f"mkdir -p -- {q(dst)}")
        steps.append(f"cd -- {q(dst)}")
        removed = [q(safe_relative(p)) for p in remove]
        if removed:
            steps.append("rm -rf -- " + " ".join(removed))
        if patch is not None:
            files = {path: data for path, data in files.items() if path != MANIFEST}
            files[_PATCH_DROP] = "".join(f"{path}\n" for path in patch.drop).encode()
            files[_PATCH_ADD] = patch.add.encode()
        if files:
            # the archive's modes as given (-p): a private key arrives 0600 whatever the login's umask.
            # -m: each file gets the time it is written (not the archive's whole seconds): Apache re-reads
            # routes.map only when its mtime changes, so two maps written within one second must differ.
            steps.append("tar -x -z -U -p -m --no-same-owner -f -")
        if patch is not None:
            steps.append(_patch_manifest_sh(patch.digest))
        steps.append(DBM_BUILD_SH)  # the routing map's SDBM, built here before the release is switched in
        archive = tar_files(files, modes) if files else None
        result = self.run("\n".join(steps), timeout=max(self.timeout, 120.0), input=archive)
        if patch is not None and result.exit_code == _PATCH_MISMATCH:
            raise _PatchMismatch()
        if not result.ok:
            raise TransportError(f"cannot build {dst}: {result.output or f'exit code {result.exit_code}'}", False)
        return SPARE_TAKEN in result.stdout.splitlines()

    def make_spare(self, release: str, spare: str, *, discard: Iterable[str] = ()) -> None:
        # The renames now (one command), the copy and the removals in the background: the deployment does
        # not wait for them, and the next build waits on the lock only for what is left of the copy.
        q, releases = shlex.quote, str(PurePosixPath(release).parent)
        discarded = list(discard)
        trash = [f"{releases}/{TRASH_PREFIX}{secrets.token_hex(6)}" for _ in discarded]
        renames = [f"mv -T -- {q(p)} {q(t)} 2>/dev/null || true" for p, t in zip(discarded, trash, strict=True)]
        temporary = f"{spare}.tmp-{secrets.token_hex(4)}"
        copy = (
            f"[ -d {q(release)} ] && [ ! -e {q(spare)} ] && cp -al -- {q(release)} {q(temporary)} "
            f"&& mv -T -- {q(temporary)} {q(spare)} || rm -rf -- {q(temporary)}"
        )
        background = "; ".join(
            [
                # a lock that cannot be had: no spare (a build could not wait for it), the trash still goes
                f"{{ flock -w {SPARE_WAIT_SECONDS * 10} 9 && {{ {copy}; }}; }} 9>>{q(f'{releases}/{SPARE_LOCK}')}",
                *([f"rm -rf -- {' '.join(q(t) for t in trash)}"] if trash else []),  # the lock is free again
            ]
        )
        command = "\n".join(
            [
                *renames,
                "command -v flock >/dev/null || exit 0",  # util-linux: without it no spare (a copy each build)
                f"nohup sh -c {q(background)} </dev/null >/dev/null 2>&1 &",
            ]
        )
        self._checked(command, f"prepare the spare copy of {release}")

    def _checked(self, command: str, what: str, timeout: float = 60.0, input: bytes | None = None) -> None:
        result = self.run(command, timeout=max(self.timeout, timeout), input=input)
        if not result.ok:
            raise TransportError(f"cannot {what}: {result.output or f'exit code {result.exit_code}'}", False)

    def remove_path(self, path: str) -> None:
        if path.rstrip("/") in {"", "/"}:
            raise TransportError(f"refusing to remove {path!r}", retryable=False)
        self._checked(f"rm -rf -- {shlex.quote(path)}", f"remove {path}")

    def clone_tree(self, src: str, dst: str) -> None:
        self._checked(f"cp -al -- {shlex.quote(src)} {shlex.quote(dst)}", f"copy {src} to {dst}")

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a dead connection must not mask the real error
            if self._sftp is not None:
                self._sftp.close()
        self._client.close()
