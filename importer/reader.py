"""Read a whole Apache config tree into one list of nodes, following Include/IncludeOptional.

    tree = read_config(DirectorySource("/srv/copy-of-etc-apache2"))
    tree = read_config(MappingSource({"apache2.conf": b"...", "sites-enabled/a.conf": b"..."}))

The main file is `apache2.conf` (Debian) or else `httpd.conf` at the root of the source. Includes are
expanded in place (an Include inside a <VirtualHost> adds to that vhost), with globs matched like
httpd (fnmatch per path component, a leading '.' only matched explicitly, matches sorted by name; a
directory includes every file below it, sorted). Relative paths are relative to ServerRoot; an
absolute path must lie under ServerRoot (the tree's original location, `ServerRoot` directive or
/etc/apache2), which maps to the source's root.

Refused with the file and line of the directive responsible (ConfigRefused): an include outside the
config root, a symlink pointing outside it, an include loop or symlink loop, a missing mandatory
include, and more files, bytes or nesting than the Limits allow.

A source is anything with `kind`, `list_dir`, `read` and `identity` over POSIX paths relative to the
root (the ConfigSource protocol): a directory on disk, or a `{relative path: bytes}` mapping such as
the SSH `read_tree` of a later phase produces (which must resolve or refuse symlinks itself).
"""

from __future__ import annotations

import errno
import fnmatch
import hashlib
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from importer.tokenizer import MAX_LINE_BYTES, ConfigRefused, Directive, Node, Note, Section, tokenize

MAIN_FILES = ("apache2.conf", "httpd.conf")
DEFAULT_SERVER_ROOT = {"apache2.conf": "/etc/apache2", "httpd.conf": "/etc/httpd"}
_GLOB_CHARS = frozenset("*?[")

type Kind = Literal["file", "dir"] | None


CERTIFICATE_KEYS = frozenset({"sslcertificatefile", "sslcertificatekeyfile", "sslcertificatechainfile"})
HARMLESS_INCLUDES = frozenset({"/dev/null"})


class SourceError(Exception):
    """A source refused a path (outside the root, a symlink loop); the reader adds file and line."""


@dataclass(frozen=True)
class Limits:
    max_files: int = 20_000
    max_total_bytes: int = 64 * 1024 * 1024
    max_file_bytes: int = 16 * 1024 * 1024
    max_line: int = MAX_LINE_BYTES
    max_depth: int = 32


class ConfigSource(Protocol):
    label: str

    def kind(self, path: str) -> Kind: ...

    def list_dir(self, path: str) -> list[str]: ...

    def read(self, path: str, max_bytes: int) -> bytes: ...

    def identity(self, path: str) -> str: ...


class DirectorySource:
    """A config tree copied to a local directory. Symlinks may point anywhere inside it, never out."""

    def __init__(self, root: str | Path) -> None:
        self.label = str(root)
        try:
            self.root = Path(root).resolve(strict=True)
        except (OSError, RuntimeError) as exc:
            raise SourceError(f"cannot open the config directory {root}: {exc}") from None
        if not self.root.is_dir():
            raise SourceError(f"{root} is not a directory")

    def _real(self, path: str) -> Path | None:
        candidate = self.root / path if path else self.root
        try:
            real = candidate.resolve(strict=True)
        except RuntimeError:  # Python < 3.13 reports a symlink loop this way
            raise SourceError(f"{path}: symlink loop") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise SourceError(f"{path}: symlink loop") from None
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                return None
            raise SourceError(f"{path}: {exc.strerror}") from None
        if not real.is_relative_to(self.root):
            raise SourceError(f"{path}: a symlink pointing outside the config root (to {real})")
        return real

    def kind(self, path: str) -> Kind:
        real = self._real(path)
        if real is None:
            return None
        if real.is_dir():
            return "dir"
        return "file" if real.is_file() else None

    def list_dir(self, path: str) -> list[str]:
        real = self._real(path)
        return sorted(p.name for p in real.iterdir()) if real else []

    def read(self, path: str, max_bytes: int) -> bytes:
        real = self._real(path)
        if real is None:
            raise SourceError(f"{path}: no such file")
        with real.open("rb") as handle:
            data = handle.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise SourceError(f"{path}: larger than {max_bytes:,} bytes")
        return data

    def identity(self, path: str) -> str:
        real = self._real(path)
        return str(real) if real else path


class MappingSource:
    """A config tree as {relative POSIX path: bytes} (e.g. read over SSH). Directories are implied."""

    def __init__(self, files: Mapping[str, bytes], *, label: str = "<mapping>") -> None:
        self.label = label
        self.files: dict[str, bytes] = {}
        self.dirs: dict[str, set[str]] = {"": set()}
        for raw, data in files.items():
            path = raw[2:] if raw.startswith("./") else raw
            parts = path.split("/")
            if path.startswith("/") or "\x00" in path or any(p in ("", ".", "..") for p in parts):
                raise SourceError(f"{raw!r}: not a relative path inside the config root")
            self.files[path] = bytes(data)
            for depth in range(1, len(parts)):
                self.dirs.setdefault("/".join(parts[:depth]), set())
            for depth in range(len(parts)):
                self.dirs["/".join(parts[:depth])].add(parts[depth])

    def kind(self, path: str) -> Kind:
        if path in self.files:
            return "file"
        return "dir" if path in self.dirs else None

    def list_dir(self, path: str) -> list[str]:
        return sorted(self.dirs.get(path, ()))

    def read(self, path: str, max_bytes: int) -> bytes:
        data = self.files.get(path)
        if data is None:
            raise SourceError(f"{path}: no such file")
        if len(data) > max_bytes:
            raise SourceError(f"{path}: larger than {max_bytes:,} bytes")
        return data

    def identity(self, path: str) -> str:
        return path


@dataclass(frozen=True)
class MapFile:
    """A `RewriteMap NAME txt:PATH` file, read from the same source as the config (a file of the tree):
    its text, or why it could not be read (never a refusal of the whole config: the recogniser reports it
    only if it needs the map)."""

    written: str  # the path as the RewriteMap names it
    path: str | None  # relative to the root, None when outside it
    text: str | None
    error: str = ""


@dataclass
class ConfigTree:
    """Every node of the config in Apache's reading order, and what was read to get it."""

    source: str
    main: str
    server_root: str
    nodes: list[Node]
    files: list[str] = field(default_factory=list)
    total_bytes: int = 0
    notes: list[Note] = field(default_factory=list)
    digest: str = ""
    maps: dict[str, MapFile] = field(default_factory=dict)  # txt RewriteMaps by the path as written
    # SSLCertificateFile / KeyFile / ChainFile by the path as written, read like maps (an HTTPS site's
    # certificate is imported with it; one that cannot be read is that site's problem only)
    certificates: dict[str, MapFile] = field(default_factory=dict)


class _Reader:
    def __init__(self, source: ConfigSource, limits: Limits, server_root: str) -> None:
        self.source = source
        self.limits = limits
        self.server_root = server_root.rstrip("/") or "/"
        self.files: list[str] = []
        self.total = 0
        self.notes: list[Note] = []
        self.maps: dict[str, MapFile] = {}
        self.certificates: dict[str, MapFile] = {}
        self.hash = hashlib.sha256()

    def read_file(self, path: str, *, stack: tuple[str, ...], origin: tuple[str, int]) -> list[Node]:
        file, line = origin
        try:
            identity = self.source.identity(path)
        except SourceError as exc:
            raise ConfigRefused(str(exc), file=file, line=line) from None
        if identity in stack:
            chain = " -> ".join([*stack, identity])
            raise ConfigRefused(f"include loop: {chain}", file=file, line=line)
        if len(stack) >= self.limits.max_depth:
            raise ConfigRefused(f"includes nested deeper than {self.limits.max_depth}", file=file, line=line)
        if len(self.files) >= self.limits.max_files:
            raise ConfigRefused(f"more than {self.limits.max_files:,} config files", file=file, line=line)
        try:
            data = self.source.read(path, self.limits.max_file_bytes)
        except SourceError as exc:
            raise ConfigRefused(str(exc), file=file, line=line) from None
        self.total += len(data)
        if self.total > self.limits.max_total_bytes:
            raise ConfigRefused(f"more than {self.limits.max_total_bytes:,} bytes of config", file=file, line=line)
        self.files.append(path)
        self.hash.update(path.encode() + b"\x00" + hashlib.sha256(data).digest())
        nodes, notes = tokenize(data.decode("utf-8", errors="replace"), file=path, max_line=self.limits.max_line)
        self.notes.extend(notes)
        return self._expand(nodes, (*stack, identity))

    def _expand(self, nodes: list[Node], stack: tuple[str, ...]) -> list[Node]:
        out: list[Node] = []
        for node in nodes:
            if isinstance(node, Section):
                node.children = self._expand(node.children, stack)
                out.append(node)
            elif node.key in ("include", "includeoptional"):
                out.extend(self._include(node, stack))
            else:
                if node.key == "serverroot" and len(node.args) == 1 and node.args[0].startswith("/"):
                    self.server_root = posixpath.normpath(node.args[0])
                elif node.key == "rewritemap" and len(node.args) >= 2 and node.args[1].lower().startswith("txt:"):
                    self._read_map(node, node.args[1][len("txt:") :])
                elif node.key == "rewritemap" and len(node.args) >= 2 and node.args[1].endswith("/routes.dbm"):
                    # HostPanel's map: an SDBM built on the host from the routes.map beside it, which is read
                    written = node.args[1].split(":", 1)[-1]
                    self._read_map(node, written, source=written.removesuffix(".dbm") + ".map")
                elif node.key in CERTIFICATE_KEYS and len(node.args) == 1:
                    self._read_map(node, node.args[0], into=self.certificates)
                out.append(node)
        return out

    def _read_map(
        self, directive: Directive, written: str, *, source: str = "", into: dict[str, MapFile] | None = None
    ) -> None:
        """A txt map is read from the source like an included file (relative to ServerRoot, inside the
        root, within the limits), but a map that cannot be read is recorded, not refused. `source`: the
        text the map was built from, when that is what can be read (HostPanel's routes.map)."""
        maps = self.maps if into is None else into
        if written in maps:
            return
        try:
            path = self._relative(directive, source or written)
        except ConfigRefused:
            maps[written] = MapFile(written, None, None, f"outside the config root {self.server_root}")
            return
        try:
            if self.source.kind(path) != "file":
                raise SourceError("no such file in the config tree (copy the whole tree)")
            data = self.source.read(path, self.limits.max_file_bytes)
        except SourceError as exc:
            maps[written] = MapFile(written, path, None, str(exc))
            return
        if self.total + len(data) > self.limits.max_total_bytes:
            maps[written] = MapFile(written, path, None, f"more than {self.limits.max_total_bytes:,} bytes read")
            return
        self.total += len(data)
        self.hash.update(b"map\x00" + path.encode() + b"\x00" + hashlib.sha256(data).digest())
        maps[written] = MapFile(written, path, data.decode("utf-8", errors="replace"))

    def _relative(self, directive: Directive, value: str) -> str:
        where = {"file": directive.file, "line": directive.line}
        if value.startswith("/"):
            root = self.server_root
            normal = posixpath.normpath(value)
            if normal == root:
                return ""
            if not normal.startswith(root.rstrip("/") + "/"):
                raise ConfigRefused(f"{directive.text[:120]}: outside the config root {root}", **where)
            return normal[len(root.rstrip("/")) + 1 :]
        normal = posixpath.normpath(value)
        if normal == ".":
            return ""
        if normal == ".." or normal.startswith("../"):
            raise ConfigRefused(f"{directive.text[:120]}: outside the config root {self.server_root}", **where)
        return normal

    def _include(self, directive: Directive, stack: tuple[str, ...]) -> list[Node]:
        where = {"file": directive.file, "line": directive.line}
        if len(directive.args) != 1:
            raise ConfigRefused(f"{directive.name} takes exactly one path", **where)
        optional = directive.key == "includeoptional"
        if directive.args[0] in HARMLESS_INCLUDES:
            return []  # `Include /dev/null`: Debian's way to include nothing (Apache reads an empty file)
        path = self._relative(directive, directive.args[0])
        try:
            matches = self._glob(path, stack_ids=())
        except SourceError as exc:
            raise ConfigRefused(str(exc), **where) from None
        if not matches:
            if optional:
                return []
            raise ConfigRefused(f"{directive.text[:120]}: no such file (copy the whole config tree)", **where)
        nodes: list[Node] = []
        for match in matches:
            nodes.extend(self.read_file(match, stack=stack, origin=(directive.file, directive.line)))
        return nodes

    def _glob(self, path: str, stack_ids: tuple[str, ...]) -> list[str]:
        """The files a path names: a file, every file under a directory, or the matches of a glob."""
        parts = [p for p in path.split("/") if p] if path else []
        current = [""]
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            following: list[str] = []
            for base in current:
                if set(part) & _GLOB_CHARS:
                    names = self.source.list_dir(base) if self.source.kind(base) == "dir" else []
                    for name in names:
                        if name.startswith(".") and not part.startswith("."):
                            continue
                        if fnmatch.fnmatchcase(name, part):
                            child = f"{base}/{name}" if base else name
                            if last or self.source.kind(child) == "dir":
                                following.append(child)
                else:
                    child = f"{base}/{part}" if base else part
                    if self.source.kind(child) is not None:
                        following.append(child)
            current = following
        files: list[str] = []
        for item in current:
            files.extend(self._files_under(item, stack_ids))
        return files

    def _files_under(self, path: str, stack_ids: tuple[str, ...]) -> list[str]:
        kind = self.source.kind(path)
        if kind == "file":
            return [path]
        if kind != "dir":
            return []
        identity = self.source.identity(path)
        if identity in stack_ids:
            raise SourceError(f"{path}: symlink loop (a directory that contains itself)")
        files: list[str] = []
        for name in self.source.list_dir(path):
            child = f"{path}/{name}" if path else name
            files.extend(self._files_under(child, (*stack_ids, identity)))
            if len(files) > self.limits.max_files:
                raise SourceError(f"{path}: more than {self.limits.max_files:,} files")
        return files


def find_main(source: ConfigSource) -> str:
    for name in MAIN_FILES:
        if source.kind(name) == "file":
            return name
    raise ConfigRefused(f"neither {' nor '.join(MAIN_FILES)} at the root of {source.label}", file=source.label, line=0)


def read_config(
    source: ConfigSource, *, main: str | None = None, server_root: str | None = None, limits: Limits | None = None
) -> ConfigTree:
    """Read the tree from its main file. server_root: where the tree lives on the front-end (default:
    the ServerRoot directive as it is read, else /etc/apache2 for apache2.conf, /etc/httpd for httpd.conf)."""
    main = main or find_main(source)
    reader = _Reader(source, limits or Limits(), server_root or DEFAULT_SERVER_ROOT.get(main, "/etc/apache2"))
    nodes = reader.read_file(main, stack=(), origin=(main, 0))
    return ConfigTree(
        source=source.label,
        main=main,
        server_root=reader.server_root,
        nodes=nodes,
        files=reader.files,
        total_bytes=reader.total,
        notes=reader.notes,
        digest=reader.hash.hexdigest(),
        maps=reader.maps,
        certificates=reader.certificates,
    )
