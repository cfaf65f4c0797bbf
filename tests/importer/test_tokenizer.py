import pytest

from importer.tokenizer import ConfigRefused, Directive, Section, split_words, tokenize


def test_it_reads_directives_and_nested_sections_with_file_and_line():
    nodes, notes = tokenize(
        "Listen 80\n<VirtualHost *:80>\n  <Location />\n    Require local\n  </Location>\n</VirtualHost>\n",
        file="a.conf",
    )
    assert notes == []
    listen, vhost = nodes
    assert isinstance(listen, Directive) and (listen.name, listen.args, listen.line) == ("Listen", ("80",), 1)
    assert isinstance(vhost, Section) and (vhost.name, vhost.args, vhost.line, vhost.end_line) == (
        "VirtualHost",
        ("*:80",),
        2,
        6,
    )
    location = vhost.children[0]
    assert isinstance(location, Section) and location.children[0].file == "a.conf" and location.children[0].line == 4


def test_it_splits_quoted_arguments_like_apache():
    assert split_words('a "b c" \'d e\' "x\\"y" \'p\\\'q\' "back\\\\slash" plain\\\\ keep\\n') == (
        "a",
        "b c",
        "d e",
        'x"y',
        "p'q",
        "back\\slash",
        "plain\\",
        "keep\\n",
    )
    assert split_words('"unterminated quote') == ("unterminated quote",)


def test_it_joins_continued_lines_and_numbers_them_by_their_first_line():
    nodes, _ = tokenize("ServerAlias a.example \\\n    b.example \\\n    c.example\nListen 80\n", file="x")
    assert nodes[0].args == ("a.example", "b.example", "c.example") and nodes[0].line == 1
    assert nodes[1].line == 4


def test_a_double_backslash_at_the_end_is_not_a_continuation():
    nodes, _ = tokenize("Define X a\\\\\nListen 80\n", file="x")
    assert [n.name for n in nodes] == ["Define", "Listen"]


def test_a_comment_is_only_a_hash_at_the_start_of_a_line():
    nodes, _ = tokenize("   # a comment\nHeader set X-Tag #not-a-comment\n#\\\nListen 1\nListen 2\n", file="x")
    assert nodes[0].args == ("set", "X-Tag", "#not-a-comment")
    assert [n.args for n in nodes[1:]] == [("2",)]  # a comment ending in \ swallows the next line, as in httpd


def test_section_names_compare_case_insensitively_and_a_missing_bracket_is_noted():
    nodes, notes = tokenize("<virtualhost *:80>\nServerName a.example\n</VirtualHost\n", file="httpd.conf")
    assert nodes[0].end_line == 3
    assert [(n.file, n.line) for n in notes] == [("httpd.conf", 3)] and "Apache 2.4 refuses" in notes[0].message


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("<VirtualHost *:80>\n<Proxy x>\n</VirtualHost>\n", 3, "closes <Proxy> opened at f.conf:2"),
        ("Listen 80\n<VirtualHost *:80>\nServerName a\n", 2, "never closed"),
        ("</Proxy>\n", 1, "without an open"),
        ("Listen 80\nServerName a\x00b\n", 2, "NUL"),
    ],
)
def test_it_refuses_unbalanced_sections_and_nul_bytes_with_file_and_line(text, line, words):
    with pytest.raises(ConfigRefused) as caught:
        tokenize(text, file="f.conf")
    assert (caught.value.file, caught.value.line) == ("f.conf", line)
    assert words in str(caught.value)


def test_it_refuses_a_10_mb_line_with_its_line_number():
    text = "Listen 80\nServerName " + "a" * 10_000_000 + "\n"
    with pytest.raises(ConfigRefused, match=r"f.conf:2: a line of 10,000,011 characters"):
        tokenize(text, file="f.conf")


def test_it_refuses_a_long_line_made_of_continuations():
    text = "ServerAlias \\\n" + ("a.example \\\n" * 8000) + "b.example\n"
    with pytest.raises(ConfigRefused, match="f.conf:1: a continued line"):
        tokenize(text, file="f.conf")


def test_rewrite_map_and_rule_order_survive_untouched():
    text = (
        'RewriteMap hosts "txt:/etc/apache2/hosts.map"\n'
        "RewriteCond %{HTTP_HOST} ^(.+)$\n"
        "RewriteRule ^/(.*) ${hosts:%1}/$1 [P]\n"
    )
    nodes, _ = tokenize(text, file="x")
    assert [n.name for n in nodes] == ["RewriteMap", "RewriteCond", "RewriteRule"]
    assert nodes[2].raw_args == "^/(.*) ${hosts:%1}/$1 [P]"
