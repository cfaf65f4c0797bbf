"""Read the live config tree of a registered front-end over its deploy transport (SSH, or local).

    remote = read_frontend_config(transport, "/etc/apache2", limits=Limits())
    tree = read_config(remote.source, server_root="/etc/apache2")
    problems = includes_cross_check(remote, tree)

Three steps, each bounded:

1. One `find` lists every entry under the root (type, size, symlink target) — refused before anything
   is downloaded when there are more entries or bytes than the Limits allow.
2. `transport.read_tree(root)` downloads the regular files in one stream (a file over the per-file cap
   is dropped: reading it through an Include is refused with that Include's file and line).
3. Symlinks (a mapping cannot hold them) are resolved here from the listing: a link to a file or a
   directory inside the root reads as that file or directory; a link pointing outside the root, a
   dangling link and a symlink loop are kept as refusals, so the reader refuses them — with file and
   line — only if the config actually includes them (Debian's sites-enabled/*.conf links are normal).

Apache's own view, where the front-end can give it: `<configtest command> -D DUMP_INCLUDES` lists the
files Apache itself includes; includes_cross_check() turns each disagreement into a warning.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass, field, replace

from deploy.transport.protocol import Transport, TransportError
from importer.reader import ConfigTree, Kind, Limits, MappingSource, SourceError
from importer.recognise import Problem

MAX_LINK_HOPS = 40  # as the kernel's MAXSYMLINKS
_DUMP_LINE = re.compile(r"^\s*\((?:\*|[0-9]+)\)\s+(?P<path>/.*?)\s*$")


class RemoteSource(MappingSource):
    """A MappingSource whose refused paths (symlinks out of the root, loops, oversized files) raise
    SourceError when read, listed as files so an Include that names one is refused, not skipped."""

    def __init__(self, files: dict[str, bytes], refused: dict[str, str], *, label: str) -> None:
        super().__init__(files, label=label)
        self.refused = refused
        for path in refused:
            parts = path.split("/")
            for depth in range(len(parts)):
                self.dirs.setdefault("/".join(parts[:depth]), set()).add(parts[depth])

    def kind(self, path: str) -> Kind:
        return "file" if path in self.refused else super().kind(path)

    def read(self, path: str, max_bytes: int) -> bytes:
        if path in self.refused:
            raise SourceError(f"{path}: {self.refused[path]}")
        return super().read(path, max_bytes)


@dataclass
class RemoteConfig:
    source: RemoteSource
    root: str
    apache_includes: list[str] | None = None  # absolute paths, None when Apache could not tell
    apache_note: str = ""
    symlinks: dict[str, str] = field(default_factory=dict)  # link -> what it resolved to (or why refused)


@dataclass
class _Listing:
    files: dict[str, int] = field(default_factory=dict)  # path -> size
    dirs: set[str] = field(default_factory=lambda: {""})
    links: dict[str, str] = field(default_factory=dict)  # path -> target as written


def _list(transport: Transport, root: str, limits: Limits) -> _Listing:
    command = (
        f"cd -- {shlex.quote(root.rstrip('/') + '/')} && find . -mindepth 1 "
        r"\( -type l -printf 'l\0%p\0%l\0' \) -o \( -type d -printf 'd\0%p\0\0' \) "
        r"-o \( -type f -printf 'f\0%p\0%s\0' \)"
    )
    result = transport.run(command, timeout=120)
    if not result.ok:
        raise SourceError(f"cannot list {root} on the front-end: {result.output or f'exit code {result.exit_code}'}")
    fields = result.stdout.split("\0")
    listing = _Listing()
    if (len(fields) - 1) // 3 > limits.max_files * 4:
        raise SourceError(f"{root} holds more than {limits.max_files * 4:,} entries: not read")
    for index in range(0, len(fields) - 2, 3):
        kind, path, extra = fields[index : index + 3]
        path = path.removeprefix("./")
        if kind == "f":
            listing.files[path] = int(extra or 0)
        elif kind == "d":
            listing.dirs.add(path)
        elif kind == "l":
            listing.links[path] = extra
    total = sum(listing.files.values())  # read_tree downloads every file: bound them all
    if total > limits.max_total_bytes:
        raise SourceError(f"{root} holds {total:,} bytes of files, more than {limits.max_total_bytes:,}: not read")
    return listing


def _resolve(path: str, listing: _Listing, root: str) -> tuple[str | None, str]:
    """The real path (relative to the root) a path names, following links in every component;
    (None, why) when it leaves the root, loops or dangles."""
    parts = [p for p in path.split("/") if p]
    done: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == ".":
            continue
        if part == "..":
            if not done:
                return None, "a symlink pointing outside the config root"
            done.pop()
            continue
        current = "/".join([*done, part])
        target = listing.links.get(current)
        if target is None:
            done.append(part)
            continue
        hops += 1
        if hops > MAX_LINK_HOPS:
            return None, "symlink loop"
        if target.startswith("/"):
            normal = posixpath.normpath(target)
            prefix = root.rstrip("/") + "/"
            if normal != root.rstrip("/") and not normal.startswith(prefix):
                return None, f"a symlink pointing outside the config root (to {target})"
            done = []
            parts = [p for p in normal[len(prefix) :].split("/") if p] + parts
        else:
            parts = [p for p in target.split("/") if p] + parts
    real = "/".join(done)
    if real in listing.files or real in listing.dirs:
        return real, ""
    return None, "a dangling symlink (its target does not exist)"


def _expand_links(listing: _Listing, files: dict[str, bytes], root: str, limits: Limits, refused: dict[str, str]):
    """Give every symlink the content it resolves to: a file's bytes, or a directory's files below it."""
    resolved: dict[str, str] = {}
    for link in sorted(listing.links):
        real, why = _resolve(link, listing, root)
        if real is None:
            refused[link] = why
            resolved[link] = why
            continue
        resolved[link] = real
        if real in listing.files:
            if real in files:
                files[link] = files[real]
            elif real in refused:
                refused[link] = refused[real]
            continue
        if link == real or link.startswith(real + "/"):
            refused[link] = "symlink loop (a directory link inside the directory it points to)"
            continue
        for path in [p for p in files if p.startswith(real + "/")]:
            files[f"{link}/{path[len(real) + 1 :]}"] = files[path]
            if len(files) > limits.max_files * 4:
                raise SourceError(f"{link}: its symlinked directories hold too many files")
    return resolved


def includes_command(configtest_command: str) -> str | None:
    """The front-end's configtest command asking Apache for its include list (`-D DUMP_INCLUDES`)."""
    command = configtest_command.strip()
    if re.search(r"\bconfigtest\b", command):
        return re.sub(r"\bconfigtest\b", "-t -D DUMP_INCLUDES", command, count=1)
    if re.search(r"(^|\s)-t(\s|$)", command):
        return f"{command} -D DUMP_INCLUDES"
    return None


def parse_dump_includes(output: str) -> list[str]:
    """The absolute paths in `apache2 -t -D DUMP_INCLUDES` output (`(*) /etc/apache2/apache2.conf`,
    `  (12) /etc/apache2/mods-enabled/x.load`), in order."""
    return [m.group("path") for line in output.splitlines() if (m := _DUMP_LINE.match(line))]


def read_frontend_config(
    transport: Transport, root: str, *, limits: Limits | None = None, configtest_command: str = "", label: str = ""
) -> RemoteConfig:
    """The config tree under root on the front-end as a RemoteSource, with Apache's own include list."""
    limits = limits or Limits()
    root = posixpath.normpath(root)
    if not root.startswith("/"):
        raise SourceError(f"{root}: the config root must be an absolute path")
    try:
        listing = _list(transport, root, limits)
        downloaded = transport.read_tree(root)
    except TransportError as exc:
        raise SourceError(f"cannot read {root} on the front-end: {exc}") from None
    refused: dict[str, str] = {}
    files: dict[str, bytes] = {}
    for path, size in listing.files.items():
        if size > limits.max_file_bytes:
            refused[path] = f"larger than {limits.max_file_bytes:,} bytes ({size:,})"
        elif path in downloaded:
            files[path] = downloaded[path]
    symlinks = _expand_links(listing, files, root, limits, refused)
    remote = RemoteConfig(RemoteSource(files, refused, label=label or root), root, symlinks=symlinks)
    command = includes_command(configtest_command)
    if command is None:
        remote.apache_note = "the front-end's configtest command cannot list includes (no -t / configtest in it)"
        return remote
    try:
        result = transport.run(command, timeout=60)
    except TransportError as exc:
        remote.apache_note = f"{command}: {exc}"
        return remote
    paths = parse_dump_includes(result.stdout + "\n" + result.stderr)
    if not paths:
        remote.apache_note = f"{command}: no include list ({(result.output or 'no output').splitlines()[-1][:200]})"
    else:
        remote.apache_includes = paths
    return remote


# Where certificates and keys live outside the Apache config root on common systems: only there, and only
# the files the config's SSLCertificate* directives name, are read over the transport (a config cannot make
# the import read any other file of the front-end).
CERTIFICATE_DIRS = ("/etc/ssl/", "/etc/letsencrypt/", "/etc/pki/tls/", "/etc/httpd/", "/etc/apache2/")
MAX_CERTIFICATE_BYTES = 256 * 1024


def fetch_certificates(transport: Transport, tree: ConfigTree, *, dirs: tuple[str, ...] = CERTIFICATE_DIRS) -> None:
    """The HTTPS sites' certificate files that the reader could not read because they are outside the config
    root (`/etc/ssl/private/site.key`, `/etc/letsencrypt/live/...`): read over the transport when they are
    under CERTIFICATE_DIRS and small; otherwise they stay unread and their site is left out with the reason."""
    for written, found in list(tree.certificates.items()):
        if found.text is not None or not written.startswith("/"):
            continue
        path = posixpath.normpath(written)
        if not path.startswith(dirs):
            tree.certificates[written] = replace(
                found, error=f"outside the config root and outside {', '.join(dirs)}: not read"
            )
            continue
        try:
            data = transport.read_file(path)
        except TransportError as exc:
            tree.certificates[written] = replace(found, error=f"cannot be read on the front-end: {exc}")
            continue
        if data is None:
            tree.certificates[written] = replace(found, error="no such file on the front-end")
        elif len(data) > MAX_CERTIFICATE_BYTES:
            tree.certificates[written] = replace(found, error=f"larger than {MAX_CERTIFICATE_BYTES:,} bytes")
        else:
            tree.certificates[written] = replace(
                found, path=path, text=data.decode("ascii", errors="replace"), error=""
            )


def includes_cross_check(remote: RemoteConfig, tree: ConfigTree) -> list[Problem]:
    """Warnings where Apache's own include list and the files this import read disagree (under the root)."""
    if remote.apache_includes is None:
        return []
    prefix = remote.root.rstrip("/") + "/"
    read = {prefix + path for path in tree.files}
    apache = {p for p in remote.apache_includes if p.startswith(prefix)}
    where = tree.main
    problems = [
        Problem("includes", "warning", where, 0, f"Apache includes {path}, which this import did not read")
        for path in sorted(apache - read)
    ]
    # A file reached through a symlink: Apache lists the link's path as written, like the reader does.
    problems += [
        Problem("includes", "warning", where, 0, f"this import read {path}, which Apache does not include")
        for path in sorted(read - apache)
    ]
    return problems
