"""An uploaded .tar.gz / .zip of a config directory: read in memory, paths escaping the root refused."""

import io
import tarfile
import zipfile

import pytest

from importer.archive import ArchiveRefused, archive_files
from importer.reader import Limits


def tar_gz(files: dict[str, bytes], *, link: tuple[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        if link:
            info = tarfile.TarInfo(link[0])
            info.type, info.linkname = tarfile.SYMTYPE, link[1]
            archive.addfile(info)
    return buffer.getvalue()


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_a_tar_gz_with_the_tree_inside_one_directory_reads_from_that_directory():
    data = tar_gz({"apache2/apache2.conf": b"Listen 80\n", "apache2/sites-enabled/a.conf": b"# a\n"})
    assert archive_files(data) == {"apache2.conf": b"Listen 80\n", "sites-enabled/a.conf": b"# a\n"}


def test_a_zip_with_the_tree_at_its_top_level_reads_as_it_is():
    assert archive_files(zipped({"apache2.conf": b"Listen 80\n"})) == {"apache2.conf": b"Listen 80\n"}


@pytest.mark.parametrize("name", ["../etc/passwd", "/etc/passwd", "apache2/../../x.conf", "C:/x.conf"])
def test_a_member_path_escaping_the_root_is_refused_by_name(name):
    for data in (tar_gz({"apache2.conf": b"", name: b"x"}), zipped({"apache2.conf": b"", name: b"x"})):
        with pytest.raises(ArchiveRefused, match="a path outside the config root"):
            archive_files(data)


def test_a_symlink_in_the_archive_is_refused():
    with pytest.raises(ArchiveRefused, match="'sites-enabled/a.conf': a link"):
        archive_files(tar_gz({"apache2.conf": b""}, link=("sites-enabled/a.conf", "/etc/shadow")))


def test_too_many_bytes_and_files_without_a_main_file_are_refused():
    with pytest.raises(ArchiveRefused, match="larger than 10 bytes"):
        archive_files(tar_gz({"apache2.conf": b"x" * 11}), limits=Limits(max_file_bytes=10))
    with pytest.raises(ArchiveRefused, match="neither apache2.conf nor httpd.conf"):
        archive_files(zipped({"a/b/apache2.conf": b""}))
    with pytest.raises(ArchiveRefused, match="not a readable tar archive"):
        archive_files(b"not an archive")
