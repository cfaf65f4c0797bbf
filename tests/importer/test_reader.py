import os

import pytest

from importer.reader import DirectorySource, Limits, MappingSource, SourceError, read_config
from importer.tokenizer import ConfigRefused, Section


def names(tree) -> list[str]:
    out = []
    for node in tree.nodes:
        out.append(node.name if not isinstance(node, Section) else f"<{node.name}>")
    return out


def test_an_include_inside_a_vhost_adds_to_that_vhost(tree):
    root = tree(
        {
            "apache2.conf": "<VirtualHost *:80>\nServerName a.example\nInclude node.inc\n</VirtualHost>\n",
            "node.inc": "RewriteEngine On\n",
        }
    )
    config = read_config(DirectorySource(root))
    vhost = config.nodes[0]
    assert [(c.name, c.file, c.line) for c in vhost.children] == [
        ("ServerName", "apache2.conf", 2),
        ("RewriteEngine", "node.inc", 1),
    ]
    assert config.files == ["apache2.conf", "node.inc"]


def test_globs_are_sorted_skip_dotfiles_and_map_absolute_paths_under_server_root(tree):
    root = tree(
        {
            "apache2.conf": (
                'ServerRoot "/srv/apache"\nInclude /srv/apache/sites/*.conf\nIncludeOptional nothing/*.conf\n'
            ),
            "sites/b.conf": "Listen 2\n",
            "sites/a.conf": "Listen 1\n",
            "sites/.hidden.conf": "Listen 9\n",
            "sites/c.txt": "Listen 8\n",
        }
    )
    config = read_config(DirectorySource(root))
    assert config.files == ["apache2.conf", "sites/a.conf", "sites/b.conf"]
    assert config.server_root == "/srv/apache"


def test_a_directory_include_reads_every_file_below_it_sorted(tree):
    root = tree(
        {
            "apache2.conf": "Include /etc/apache2/sites-enabled/\n",
            "sites-enabled/b": "Listen 2\n",
            "sites-enabled/a/x.conf": "Listen 1\n",
        }
    )
    assert read_config(DirectorySource(root)).files == ["apache2.conf", "sites-enabled/a/x.conf", "sites-enabled/b"]


def test_httpd_conf_is_the_main_file_when_there_is_no_apache2_conf():
    config = read_config(MappingSource({"httpd.conf": b"Include conf.d/*.conf\n", "conf.d/a.conf": b"Listen 1\n"}))
    assert config.main == "httpd.conf" and config.files == ["httpd.conf", "conf.d/a.conf"]


@pytest.mark.parametrize("path", ["/etc/passwd", "../outside.conf", "/etc/apache2/../shadow"])
def test_an_include_outside_the_config_root_is_refused_with_file_and_line(tree, path):
    root = tree({"apache2.conf": f"Listen 80\nInclude {path}\n"})
    with pytest.raises(ConfigRefused, match="outside the config root") as caught:
        read_config(DirectorySource(root))
    assert (caught.value.file, caught.value.line) == ("apache2.conf", 2)


def test_a_symlink_pointing_outside_the_root_is_refused(tree, tmp_path):
    secret = tmp_path / "secret.conf"
    secret.write_text("Listen 1\n")
    root = tree(
        {"apache2.conf": "Listen 80\n\nIncludeOptional sites-enabled/*.conf\n", "sites-enabled/ok.conf": "Listen 2\n"}
    )
    os.symlink(secret, root / "sites-enabled" / "evil.conf")
    with pytest.raises(ConfigRefused, match="symlink pointing outside") as caught:
        read_config(DirectorySource(root))
    assert (caught.value.file, caught.value.line) == ("apache2.conf", 3)


def test_a_symlink_loop_is_refused(tree):
    root = tree({"apache2.conf": "Include sites-enabled/*.conf\n", "sites-enabled/ok.conf": "Listen 2\n"})
    os.symlink("b.conf", root / "sites-enabled" / "a.conf")
    os.symlink("a.conf", root / "sites-enabled" / "b.conf")
    with pytest.raises(ConfigRefused, match="symlink loop") as caught:
        read_config(DirectorySource(root))
    assert (caught.value.file, caught.value.line) == ("apache2.conf", 1)


def test_a_directory_symlink_loop_is_refused(tree):
    root = tree({"apache2.conf": "Listen 80\nInclude sites-enabled/\n", "sites-enabled/ok.conf": "Listen 2\n"})
    os.symlink("..", root / "sites-enabled" / "up")
    with pytest.raises(ConfigRefused, match="symlink loop") as caught:
        read_config(DirectorySource(root))
    assert (caught.value.file, caught.value.line) == ("apache2.conf", 2)


def test_a_symlink_inside_the_root_is_followed(tree):
    root = tree({"apache2.conf": "Include sites-enabled/*.conf\n", "sites-available/a.conf": "Listen 2\n"})
    (root / "sites-enabled").mkdir()
    os.symlink("../sites-available/a.conf", root / "sites-enabled" / "a.conf")
    assert read_config(DirectorySource(root)).files == ["apache2.conf", "sites-enabled/a.conf"]


def test_an_include_loop_is_refused_with_the_chain():
    source = MappingSource(
        {"apache2.conf": b"Include a.conf\n", "a.conf": b"Listen 1\nInclude b.conf\n", "b.conf": b"Include a.conf\n"}
    )
    with pytest.raises(ConfigRefused, match="include loop: apache2.conf -> a.conf -> b.conf -> a.conf") as caught:
        read_config(source)
    assert (caught.value.file, caught.value.line) == ("b.conf", 1)


def test_a_missing_include_is_refused_and_a_missing_optional_one_is_not():
    with pytest.raises(ConfigRefused, match="apache2.conf:1: Include gone.conf: no such file"):
        read_config(MappingSource({"apache2.conf": b"Include gone.conf\n"}))
    assert read_config(MappingSource({"apache2.conf": b"IncludeOptional gone.conf\n"})).files == ["apache2.conf"]


def test_the_caps_on_files_and_bytes_refuse_with_file_and_line():
    files = {"apache2.conf": b"Include s/*.conf\n"} | {f"s/{i}.conf": b"Listen 1\n" for i in range(5)}
    with pytest.raises(ConfigRefused, match="more than 3 config files"):
        read_config(MappingSource(files), limits=Limits(max_files=3))
    with pytest.raises(ConfigRefused, match="apache2.conf:1: more than 30 bytes"):
        read_config(MappingSource(files), limits=Limits(max_total_bytes=30))


def test_a_mapping_refuses_paths_that_leave_the_root():
    for bad in ("../x.conf", "/etc/passwd", "a/../../b", "a//b"):
        with pytest.raises(SourceError):
            MappingSource({"apache2.conf": b"", bad: b""})


def test_a_source_without_a_main_file_is_refused():
    with pytest.raises(ConfigRefused, match="neither apache2.conf nor httpd.conf"):
        read_config(MappingSource({"other.conf": b""}))


def test_the_seed_tree_reads_in_apache_order(seed22):
    config = read_config(DirectorySource(seed22))
    assert config.files == ["apache2.conf", "httpd.conf", "sites-enabled/linux.co.uk"]
    assert names(config)[-1] == "<VirtualHost>"
    assert [(n.file, n.line) for n in config.notes] == [("httpd.conf", 16)]
