"""An uploaded .tar.gz / .tgz / .tar / .zip of a config directory -> a MappingSource (pure, bounded).

    source = archive_source(data, name="etc-apache2.tar.gz")

The archive may hold the tree at its top level or inside one directory (`apache2/apache2.conf`, as
`tar -czf x.tgz -C /etc apache2` makes it): that directory becomes the root. Refused (ArchiveRefused,
naming the member): a path that is absolute or climbs out with `..`, a link (hard or symbolic: a
mapping cannot hold one, and a link may point anywhere — resolve links before packing, e.g.
`tar -czhf`), a device or fifo, more members or bytes than the Limits allow, and anything that is not
a readable archive. Nothing is written to disk.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import PurePosixPath

from importer.reader import MAIN_FILES, Limits, MappingSource


class ArchiveRefused(ValueError):
    """The upload is not read at all; the message names the member responsible."""


def _safe(name: str) -> str:
    path = name.replace("\\", "/")
    parts = PurePosixPath(path).parts
    if path.startswith("/") or ".." in parts or "\x00" in path or (parts and ":" in parts[0]):
        raise ArchiveRefused(f"{name!r}: a path outside the config root")
    return "/".join(p for p in parts if p not in ("", "."))


def _members_tar(data: bytes, limits: Limits) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
            for count, member in enumerate(archive, start=1):
                if count > limits.max_files:
                    raise ArchiveRefused(f"more than {limits.max_files:,} members")
                path = _safe(member.name)
                if member.isdir():
                    continue
                if member.issym() or member.islnk():
                    raise ArchiveRefused(f"{member.name!r}: a link (pack the tree with links resolved: tar -czhf)")
                if not member.isfile():
                    raise ArchiveRefused(f"{member.name!r}: not a regular file")
                if member.size > limits.max_file_bytes:
                    raise ArchiveRefused(f"{member.name!r}: larger than {limits.max_file_bytes:,} bytes")
                total += member.size
                if total > limits.max_total_bytes:
                    raise ArchiveRefused(f"more than {limits.max_total_bytes:,} bytes unpacked")
                extracted = archive.extractfile(member)
                files[path] = extracted.read(limits.max_file_bytes + 1) if extracted else b""
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ArchiveRefused(f"not a readable tar archive: {exc}") from None
    return files


def _members_zip(data: bytes, limits: Limits) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    total = 0
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError) as exc:
        raise ArchiveRefused(f"not a readable zip archive: {exc}") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.max_files:
            raise ArchiveRefused(f"more than {limits.max_files:,} members")
        for info in infos:
            path = _safe(info.filename)
            if info.is_dir():
                continue
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                raise ArchiveRefused(f"{info.filename!r}: a symbolic link (zip the tree with links resolved)")
            if info.file_size > limits.max_file_bytes:
                raise ArchiveRefused(f"{info.filename!r}: larger than {limits.max_file_bytes:,} bytes")
            total += info.file_size
            if total > limits.max_total_bytes:
                raise ArchiveRefused(f"more than {limits.max_total_bytes:,} bytes unpacked")
            with archive.open(info) as handle:
                content = handle.read(limits.max_file_bytes + 1)  # the header's size may lie: read bounded
            if len(content) > limits.max_file_bytes:
                raise ArchiveRefused(f"{info.filename!r}: larger than {limits.max_file_bytes:,} bytes")
            files[path] = content
    return files


def archive_files(data: bytes, *, name: str = "", limits: Limits | None = None) -> dict[str, bytes]:
    """{relative path: bytes} of the config tree in the archive, its root found as described above."""
    limits = limits or Limits()
    files = _members_zip(data, limits) if data[:4] == b"PK\x03\x04" else _members_tar(data, limits)
    if not any(path in files for path in MAIN_FILES):
        tops = {path.split("/", 1)[0] for path in files}
        if len(tops) == 1:
            top = tops.pop()
            if any(f"{top}/{main}" in files for main in MAIN_FILES):
                files = {path[len(top) + 1 :]: data for path, data in files.items()}
    if not any(path in files for path in MAIN_FILES):
        raise ArchiveRefused(f"{name or 'the archive'}: neither {' nor '.join(MAIN_FILES)} at its root")
    return files


def archive_source(data: bytes, *, name: str = "", limits: Limits | None = None) -> MappingSource:
    return MappingSource(archive_files(data, name=name, limits=limits), label=f"upload {name or 'archive'}")
