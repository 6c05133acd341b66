"""A structural reader of declarative Jenkinsfiles, for the tests of what ``cicd_init`` writes.

Not Groovy: enough of its lexical rules (comments, the four string forms and their escapes,
brackets) to turn a declarative pipeline into a tree of statements, ``name args { body }``, and
to fail loudly on what a Groovy parser would also refuse (an unclosed string, comment or bracket,
a closing bracket of the wrong kind). Jenkins's own validator (``declarative-linter``) runs inside
a Jenkins controller only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field


class JenkinsfileError(ValueError):
    pass


@dataclass(frozen=True)
class Token:
    kind: str  # "word", "str" (value unescaped), "gstr" (a double-quoted GString, raw), "punct", "newline"
    value: str
    line: int


@dataclass
class Statement:
    head: list[Token]
    body: list[Statement] | None = None  # the statements between { and }, when the statement has a block
    children_by_name: dict[str, list[Statement]] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.head[0].value if self.head else ""

    @property
    def strings(self) -> list[str]:
        """The string arguments of the head, in order (single-quoted and GStrings alike)."""
        return [t.value for t in self.head if t.kind in ("str", "gstr")]

    @property
    def text(self) -> str:
        return " ".join(t.value for t in self.head)

    def all(self, name: str) -> list[Statement]:
        """The statements of this block (not deeper) named ``name``."""
        return [s for s in self.body or [] if s.name == name]

    def one(self, name: str) -> Statement:
        found = self.all(name)
        if len(found) != 1:
            raise JenkinsfileError(f"{self.text!r} has {len(found)} {name!r} blocks, expected one")
        return found[0]

    def walk(self) -> Iterator[Statement]:
        for statement in self.body or []:
            yield statement
            yield from statement.walk()


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "\\": "\\", "'": "'", '"': '"', "$": "$"}


def _unescape(raw: str, line: int) -> str:
    out, i = [], 0
    while i < len(raw):
        char = raw[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        following = raw[i + 1 : i + 2]
        if following == "\n":  # a line continuation: the newline is dropped
            i += 2
        elif following in _ESCAPES:
            out.append(_ESCAPES[following])
            i += 2
        else:
            raise JenkinsfileError(f"line {line}: unknown escape \\{following} in a string")
    return "".join(out)


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, line = 0, 1
    while i < len(text):
        char = text[i]
        if char == "\n":
            tokens.append(Token("newline", "\n", line))
            line += 1
            i += 1
        elif char in " \t\r":
            i += 1
        elif text.startswith("//", i):
            i = text.find("\n", i) if "\n" in text[i:] else len(text)
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise JenkinsfileError(f"line {line}: unclosed comment")
            line += text.count("\n", i, end)
            i = end + 2
        elif text.startswith("'''", i) or text.startswith('"""', i):
            quote = text[i : i + 3]
            end = i + 3
            while True:
                end = text.find(quote, end)
                if end < 0:
                    raise JenkinsfileError(f"line {line}: unclosed {quote} string")
                if text[end - 1] != "\\" or text[end - 2 : end] == "\\\\":
                    break
                end += 1
            raw = text[i + 3 : end]
            kind = "str" if quote == "'''" else "gstr"
            tokens.append(Token(kind, _unescape(raw, line), line))
            line += raw.count("\n")
            i = end + 3
        elif char in "'\"":
            match = re.compile(rf"{char}((?:\\.|[^{char}\\\n])*){char}").match(text, i)
            if not match:
                raise JenkinsfileError(f"line {line}: unclosed string")
            tokens.append(Token("str" if char == "'" else "gstr", _unescape(match.group(1), line), line))
            i = match.end()
        elif re.match(r"[A-Za-z_$]", char):
            match = re.compile(r"[A-Za-z_$][\w$]*").match(text, i)
            assert match
            tokens.append(Token("word", match.group(), line))
            i = match.end()
        elif char.isdigit():
            match = re.compile(r"\d+(?:\.\d+)?").match(text, i)
            assert match
            tokens.append(Token("word", match.group(), line))
            i = match.end()
        elif text.startswith("->", i):
            tokens.append(Token("punct", "->", line))
            i += 2
        elif char in "{}()[],;:=.!&|<>?+-*/%":
            tokens.append(Token("punct", char, line))
            i += 1
        else:
            raise JenkinsfileError(f"line {line}: unexpected character {char!r}")
    return tokens


_PAIRS = {"(": ")", "[": "]", "{": "}"}


def _statements(tokens: list[Token], i: int, closing: str | None) -> tuple[list[Statement], int]:
    statements: list[Statement] = []
    head: list[Token] = []
    depth: list[str] = []  # open ( and [ of the current statement
    while i < len(tokens):
        token = tokens[i]
        if token.kind == "punct" and token.value in ("(", "["):
            depth.append(_PAIRS[token.value])
            head.append(token)
        elif token.kind == "punct" and token.value in (")", "]"):
            if not depth or depth.pop() != token.value:
                raise JenkinsfileError(f"line {token.line}: unbalanced {token.value!r}")
            head.append(token)
        elif token.kind == "punct" and token.value == "{":
            body, i = _statements(tokens, i + 1, "}")
            if depth:  # a closure inside an argument list: keep it in the head, as one token
                head.append(Token("closure", "{...}", token.line))
                continue
            statements.append(Statement(head, body))
            head = []
            continue
        elif token.kind == "punct" and token.value == "}":
            if closing != "}" or depth:
                raise JenkinsfileError(f"line {token.line}: unbalanced '}}'")
            if head:
                statements.append(Statement(head))
            return statements, i + 1
        elif (token.kind == "newline" or token.value == ";") and not depth:
            if head:
                statements.append(Statement(head))
            head = []
        elif token.kind != "newline":
            head.append(token)
        i += 1
    if closing is not None or depth:
        raise JenkinsfileError("unexpected end of file: a bracket is not closed")
    if head:
        statements.append(Statement(head))
    return statements, i


def parse(text: str) -> Statement:
    """The whole file as one block (its statements are the top-level ones)."""
    body, _ = _statements(tokenize(text), 0, None)
    return Statement([Token("word", "<file>", 0)], body)


def stages(pipeline: Statement) -> dict[str, Statement]:
    """The pipeline's top-level stages by name, in order."""
    return {stage.strings[0]: stage for stage in pipeline.one("stages").all("stage")}


def shell_scripts(block: Statement) -> list[str]:
    """The scripts of the ``sh`` steps anywhere in ``block`` (``sh '...'`` or ``sh script: '...'``)."""
    return [s.strings[-1] for s in block.walk() if s.name == "sh" and s.strings]
