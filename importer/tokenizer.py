"""A small tokenizer of Apache's own configuration syntax, with a file and line on every node.

    nodes, notes = tokenize(text, file="sites-enabled/linux.co.uk")

It follows what httpd does (server/util.c `ap_getword_conf`, `ap_cfg_getline`), not a generic
config grammar, so RewriteCond/RewriteRule order and RewriteMap lines survive untouched:

- a line ending in a single `\\` continues on the next line (the backslash and newline are removed);
- after trimming, a line starting with `#` is a comment (only there: `#` elsewhere is an argument);
- `<Name args>` opens a section, `</Name>` closes it (names compare case-insensitively);
- arguments are split on whitespace; `"..."` and `'...'` quote, and inside them `\\"` (or `\\'`) and
  `\\\\` are the only escapes; outside quotes `\\\\` is a backslash and any other `\\` stays.

Refused, with file and line (ConfigRefused): a NUL byte, a line over the size cap, a section that
is closed by another name or never closed, a close without an open. Tolerated with a note (as
2.2-era hand-written configs have them): a section tag missing its closing `>`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_LINE_BYTES = 64 * 1024


class ConfigRefused(ValueError):
    """A config that is not read at all: hostile, malformed or too big. Carries where."""

    def __init__(self, reason: str, *, file: str, line: int) -> None:
        super().__init__(f"{file}:{line}: {reason}")
        self.reason = reason
        self.file = file
        self.line = line


@dataclass(frozen=True, slots=True)
class Note:
    """Something the tokenizer tolerated that Apache 2.4 may not (e.g. `</VirtualHost` without `>`)."""

    file: str
    line: int
    text: str
    message: str


@dataclass(slots=True)
class Directive:
    """One directive: its name as written, its arguments (ap_getword_conf) and its raw argument text."""

    name: str
    args: tuple[str, ...]
    raw_args: str
    file: str
    line: int

    @property
    def key(self) -> str:
        return self.name.lower()

    @property
    def text(self) -> str:
        return f"{self.name} {self.raw_args}".rstrip()


@dataclass(slots=True)
class Section:
    """`<Name args> ... </Name>` with its children in order."""

    name: str
    args: tuple[str, ...]
    raw_args: str
    file: str
    line: int
    children: list[Node] = field(default_factory=list)
    end_line: int = 0

    @property
    def key(self) -> str:
        return self.name.lower()

    @property
    def text(self) -> str:
        return f"<{self.name} {self.raw_args}>" if self.raw_args else f"<{self.name}>"


type Node = Directive | Section


def split_words(text: str) -> tuple[str, ...]:
    """Split an argument string the way ap_getword_conf does, word after word."""
    words: list[str] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            return tuple(words)
        quote = text[i]
        out: list[str] = []
        if quote in "\"'":
            i += 1
            while i < n and text[i] != quote:
                if text[i] == "\\" and i + 1 < n and text[i + 1] in (quote, "\\"):
                    out.append(text[i + 1])
                    i += 2
                else:
                    out.append(text[i])
                    i += 1
            i += 1  # the closing quote (an unterminated quote ends at the end of the line, as in httpd)
        else:
            while i < n and not text[i].isspace():
                if text[i] == "\\" and i + 1 < n and text[i + 1] == "\\":
                    out.append("\\")
                    i += 2
                else:
                    out.append(text[i])
                    i += 1
        words.append("".join(out))


def _logical_lines(text: str, file: str, max_line: int):
    """(first line number, logical line) with continuations joined; refuses NUL and long lines."""
    nul = text.find("\x00")
    if nul >= 0:
        raise ConfigRefused("a NUL byte in the config", file=file, line=text.count("\n", 0, nul) + 1)
    pending: list[str] = []
    pending_len = 0
    start = 0
    for number, line in enumerate(text.split("\n"), 1):
        if len(line) > max_line:
            raise ConfigRefused(f"a line of {len(line):,} characters (the cap is {max_line:,})", file=file, line=number)
        if line.endswith("\r"):
            line = line[:-1]
        if not pending:
            start = number
        if line.endswith("\\") and not line.endswith("\\\\"):
            pending.append(line[:-1])
            pending_len += len(line)
            if pending_len > max_line:
                raise ConfigRefused(f"a continued line over {max_line:,} characters", file=file, line=start)
            continue
        pending.append(line)
        yield start, "".join(pending).strip()
        pending = []
        pending_len = 0
    if pending:
        yield start, "".join(pending).strip()


def _split_name(body: str) -> tuple[str, str]:
    for i, ch in enumerate(body):
        if ch.isspace():
            return body[:i], body[i:].strip()
    return body, ""


def tokenize(text: str, *, file: str, max_line: int = MAX_LINE_BYTES) -> tuple[list[Node], list[Note]]:
    """The nodes of one file (Include directives are left in place for the reader) and the notes."""
    root: list[Node] = []
    stack: list[Section] = []
    notes: list[Note] = []
    for number, line in _logical_lines(text, file, max_line):
        if not line or line.startswith("#"):
            continue
        children = stack[-1].children if stack else root
        if line.startswith("</"):
            body = line[2:]
            if body.endswith(">"):
                body = body[:-1]
            else:
                notes.append(Note(file, number, line, "section close without '>': Apache 2.4 refuses it"))
            name, rest = _split_name(body.strip())
            if rest:
                raise ConfigRefused(f"{line[:80]!r}: a section close takes no arguments", file=file, line=number)
            if not stack:
                raise ConfigRefused(f"</{name}> without an open <{name}>", file=file, line=number)
            if stack[-1].key != name.lower():
                opened = stack[-1]
                raise ConfigRefused(
                    f"</{name}> closes <{opened.name}> opened at {opened.file}:{opened.line}", file=file, line=number
                )
            stack.pop().end_line = number
            continue
        if line.startswith("<"):
            body = line[1:]
            if body.endswith(">"):
                body = body[:-1]
            else:
                notes.append(Note(file, number, line, "section tag without '>': Apache 2.4 refuses it"))
            name, rest = _split_name(body.strip())
            if not name:
                raise ConfigRefused(f"{line[:80]!r}: a section without a name", file=file, line=number)
            section = Section(name=name, args=split_words(rest), raw_args=rest, file=file, line=number)
            children.append(section)
            stack.append(section)
            continue
        name, rest = _split_name(line)
        children.append(Directive(name=name, args=split_words(rest), raw_args=rest, file=file, line=number))
    if stack:
        opened = stack[-1]
        raise ConfigRefused(f"<{opened.name}> is never closed", file=opened.file, line=opened.line)
    return root, notes


def walk(nodes: list[Node]):
    """Every node, depth first, in config order."""
    for node in nodes:
        yield node
        if isinstance(node, Section):
            yield from walk(node.children)
