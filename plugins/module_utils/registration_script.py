# Copyright: (c) 2026, tke.flannel developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Disable selected check calls inside TKE's node registration script.

TKE's registration script (the one the console hands out for third-party
nodes) runs a ``check`` function that calls ``check_os``, ``check_kernel`` and
other checks.  The OS and kernel checks reject systems the script does not
know, although with Flannel as the CNI they do not matter.  This module finds
the body of the ``check`` function with a small bash-aware lexer (quotes,
comments, heredocs, ``$(...)``, ``${...}``) and neutralises the calls to the
chosen checks there, and only there, so that:

* every other check still runs, in the same order;
* a disabled check counts as passed (its exit status is 0), so
  ``if ! check_os; then exit 1; fi`` no longer exits;
* the result is still valid bash (``bash -n`` is run before anything is
  written);
* a second run recognises its own marker and changes nothing.

Two rewrites are used.  A line that holds only the call (optionally followed
by a failure handler such as ``|| exit 1``) is commented out and tagged with
the marker, which reads best to a human.  Anywhere else (joined with ``&&`` or
``;``, inside ``if``) the call word is replaced in place by the ``:`` builtin
carrying the marker as its argument, which returns 0 and leaves the rest of
the line running.

The logic has no Ansible dependency so that it can be unit-tested directly;
``bash -n`` goes through an injectable runner.
"""

from __future__ import annotations

import difflib
import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

MARKER = "tke.flannel: disabled"
"""Text that tags every rewrite of this module, so a later run recognises it."""

Runner = Callable[[Sequence[str], bytes], tuple[int, str, str]]
"""Runs ``argv`` with ``stdin`` bytes and returns ``(rc, stdout, stderr)``."""

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]*$")
_ASSIGNMENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=")
_INLINE_MARKER_RE = re.compile(r"^(['\"])" + re.escape(MARKER) + r" (\S+)\1$")
_COMMENT_MARKER_RE = re.compile(re.escape(MARKER) + r" ([^\s#,]+(?:, [^\s#,]+)*)")
# Commands that run their first argument: `command check_os` still runs the check.
_WRAPPERS = frozenset({"command", "builtin", "eval", "exec", "timeout", "nohup", "env", "sudo"})

# Operators, longest first so that the first match is the right one.
_OPERATORS = (
    ";;&",
    "<<<",
    "<<-",
    "&>>",
    ";;",
    ";&",
    "&&",
    "||",
    "|&",
    "<<",
    ">>",
    ">&",
    "<&",
    "<>",
    ">|",
    "&>",
    ";",
    "&",
    "|",
    "(",
    ")",
    "<",
    ">",
)
_REDIRECTIONS = frozenset({"<<<", "&>>", ">>", ">&", "<&", "<>", ">|", "&>", "<", ">"})
_HEREDOCS = frozenset({"<<", "<<-"})
_CONTROL = frozenset({";;&", ";;", ";&", "&&", "||", "|&", ";", "&", "|", "(", ")"})
_METACHARS = frozenset(" \t\n;&|()<>")
# The lexer's fast paths: one regex match instead of a Python step per character.
_OPERATOR_RE = re.compile("|".join(re.escape(op) for op in _OPERATORS))
_BLANKS_RE = re.compile(r"[ \t\r]+")
# A run of characters that need no rule of their own inside a word.
_PLAIN_WORD_RE = re.compile(r"[^\\'\"`$ \t\n;&|()<>]+")

# Reserved words after which the next word is again a command.
_KEEPS_COMMAND_POSITION = frozenset(
    {"if", "then", "else", "elif", "do", "while", "until", "!", "{", "time"}
)
# Words that open or close a block; a block left with no command is a syntax error.
_BLOCK_OPENERS = frozenset({"{", "then", "do", "else"})
_BLOCK_CLOSERS = frozenset({"}", "fi", "done", "esac", "elif", "else"})
# Reserved words (and braces) that open and close a compound command.
_COMPOUND_OPENERS = frozenset({"if", "case", "while", "until", "for", "select", "{"})
_COMPOUND_CLOSERS = frozenset({"fi", "esac", "done", "}"})
# What separates the elements of a shell list, and the reserved words that end one.
_ELEMENT_SEPARATORS = frozenset({";", "&", ";;", ";&", ";;&"})
_ENDS_ELEMENT = frozenset({"then", "do", "fi", "done", "esac", "else", "elif"})
# After a check's name in a comment, these make the comment a commented-out call.
_CALL_FOLLOWERS = frozenset({";", "&&", "||", "|", "|&", "&", "<<", "<<-"})
_ARGUMENT_RE = re.compile(r"""[-$"'0-9/]""")

REDACTED = "<redacted>"
"""What replaces an assignment's or a secret option's value in results and diffs."""

# `NAME=value` at the start of a shell word; the value is quoted strings,
# `$(...)` and plain characters up to the end of the word.
_WORD_VALUE = r"""(?:\$\([^)\n]*\)?|"(?:[^"\\\n]|\\.)*"?|'[^'\n]*'?|\\.|[^\s;&|()<>"'\\])+"""
_ASSIGNMENT_VALUE_RE = re.compile(
    r"(?<![^\s;&|(){}`])([A-Za-z_][A-Za-z0-9_]*(?:\[[^\]\s]*\])?\+?=)(?!=)(" + _WORD_VALUE + ")?"
)
# `--token VALUE`, `--join-token=VALUE`, `-password VALUE` and the like.
_SECRET_OPTION_RE = re.compile(
    r"(?<![^\s;&|(){}`\"'])(--?[\w-]*?(?:token|secret|passw|key|auth|cred)[\w-]*)"
    r"(=|[ \t]+)(?![-)|;&])" + _WORD_VALUE,
    re.IGNORECASE,
)

# Payload detection: a control byte other than white space, or a byte that is not UTF-8.
_BINARY_RE = re.compile("[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f\udc80-\udcff]")
_TOP_LEVEL_EXIT_RE = re.compile(r"^exit(?:[ \t]+[^\s;#]+)?[ \t]*;?[ \t]*(?:#[^\n]*)?\n", re.M)


class RegistrationScriptError(Exception):
    """The script cannot be patched; the message says what to do about it."""


class Token(NamedTuple):
    """One lexical unit of the script.

    ``kind`` is ``word``, ``op``, ``newline`` or ``comment``.  ``command`` is
    true for a word in command position (the name of the command to run).
    A named tuple rather than a dataclass: a large script has millions of
    tokens, and a tuple is about a third of the memory and quicker to build.
    """

    kind: str
    text: str
    start: int
    end: int
    line: int
    command: bool = False


@dataclass(frozen=True)
class FunctionBody:
    """Token indices of the ``{`` and ``}`` that delimit a function body."""

    name: str
    line: int
    open_index: int
    close_index: int


@dataclass(frozen=True)
class CallSite:
    """A call of a check inside the check function, as reported to the user.

    ``text`` is the shell list element holding the call (the call, its
    arguments and a handler such as ``|| exit 1``), not the whole line, with
    the value of every assignment and secret-looking option redacted: the
    script may carry a join token next to a call.
    """

    line: int
    text: str
    check: str
    by: str = ""
    reason: str = ""

    def as_dict(self) -> dict[str, object]:
        """Return the shape used in module results."""
        result: dict[str, object] = {"line": self.line, "text": self.text, "check": self.check}
        if self.by:
            result["by"] = self.by
        if self.reason:
            result["reason"] = self.reason
        return result


@dataclass
class Patch:
    """Outcome of planning the patch of one script (nothing is written here)."""

    before: str
    after: str
    disabled: list[CallSite] = field(default_factory=list)
    already_disabled: list[CallSite] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)
    not_disabled: list[CallSite] = field(default_factory=list)
    payload: str = ""
    """Data after the script's top-level ``exit`` (a self-extracting archive), kept as is."""

    @property
    def changed(self) -> bool:
        """Whether the patched text differs from the original."""
        return self.before != self.after

    @property
    def script_before(self) -> str:
        """The original text without any payload: what bash parses."""
        return self.before[: len(self.before) - len(self.payload)]

    @property
    def script_after(self) -> str:
        """The patched text without any payload: what bash parses."""
        return self.after[: len(self.after) - len(self.payload)]


class _Lexer:
    """Splits bash source into tokens, enough to find functions and commands.

    Limitation: this is not a full bash parser. ``$(...)`` is matched by
    counting parentheses, so a ``case`` pattern with an unbalanced ``)``
    inside a command substitution confuses it; ``}`` as a plain argument right
    after ``;`` or a newline is taken as the end of a block. Neither shape is
    found in TKE's registration script.
    """

    def __init__(self, source: str) -> None:
        self.src = source
        self.pos = 0
        self.tokens: list[Token] = []
        self.counted_to = 0  # line numbers: newlines before this offset are counted
        self.counted_line = 1
        self.expect_command = True
        self.redirect_target = False
        self.heredoc_delimiter_next: bool | None = None  # strip-tabs flag while pending
        self.pending_heredocs: list[tuple[str, bool]] = []
        self.after_function_keyword = False
        self.function_name_seen = False
        self.case_states: list[str] = []  # "head", "pattern" or "body"

    def line_of(self, offset: int) -> int:
        """Line number of ``offset``; offsets come in increasing order, so count onwards."""
        if offset >= self.counted_to:
            self.counted_line += self.src.count("\n", self.counted_to, offset)
        else:
            self.counted_line -= self.src.count("\n", offset, self.counted_to)
        self.counted_to = offset
        return self.counted_line

    def run(self) -> list[Token]:
        src = self.src
        while self.pos < len(src):
            ch = src[self.pos]
            if ch in " \t\r":
                self.pos = _BLANKS_RE.match(src, self.pos).end()
            elif ch == "\\" and src.startswith("\\\n", self.pos):
                self.pos += 2
            elif ch == "\n":
                self._newline()
            elif ch == "#":
                end = src.find("\n", self.pos)
                end = len(src) if end < 0 else end
                self._emit("comment", self.pos, end)
                self.pos = end
            elif ch in "<>" and src.startswith("(", self.pos + 1):
                self._word()  # process substitution
            else:
                op = _OPERATOR_RE.match(src, self.pos)
                if op is None:
                    self._word()
                else:
                    self._operator(op.group())
        return self.tokens

    def _emit(self, kind: str, start: int, end: int, command: bool = False) -> Token:
        token = Token(kind, self.src[start:end], start, end, self.line_of(start), command)
        self.tokens.append(token)
        return token

    def _newline(self) -> None:
        last = self.tokens[-1] if self.tokens else None
        continued = last is not None and last.kind == "op" and last.text in {"&&", "||", "|", "|&"}
        if not continued:
            self._emit("newline", self.pos, self.pos + 1)
            self.expect_command = True
        self.pos += 1
        for delimiter, strip_tabs in self.pending_heredocs:
            self._skip_heredoc(delimiter, strip_tabs)
        self.pending_heredocs = []

    def _skip_heredoc(self, delimiter: str, strip_tabs: bool) -> None:
        src = self.src
        while self.pos < len(src):
            end = src.find("\n", self.pos)
            end = len(src) if end < 0 else end
            line = src[self.pos : end]
            self.pos = min(end + 1, len(src))
            if (line.lstrip("\t") if strip_tabs else line) == delimiter:
                return

    def _operator(self, op: str) -> None:
        start = self.pos
        self.pos += len(op)
        self._emit("op", start, self.pos)
        if op in _HEREDOCS:
            self.heredoc_delimiter_next = op == "<<-"
        elif op in _REDIRECTIONS:
            self.redirect_target = True
        elif op in _CONTROL:
            self.expect_command = True
            self._case_after_operator(op)

    def _case_after_operator(self, op: str) -> None:
        if not self.case_states:
            return
        state = self.case_states[-1]
        if state == "pattern" and op == ")":
            self.case_states[-1] = "body"
        elif state == "body" and op in {";;", ";&", ";;&"}:
            self.case_states[-1] = "pattern"

    def _word(self) -> None:
        start = self.pos
        self._scan_word()
        if self.pos == start:  # a character no rule consumes: keep going
            self.pos += 1
        text = self.src[start : self.pos]
        if text.isdigit() and self.src.startswith(("<", ">"), self.pos):
            self._emit("word", start, self.pos)  # file descriptor of a redirection
            return
        if self.heredoc_delimiter_next is not None:
            delimiter = re.sub(r"""\\(.)|['"]""", r"\1", text)
            self.pending_heredocs.append((delimiter, self.heredoc_delimiter_next))
            self.heredoc_delimiter_next = None
            self._emit("word", start, self.pos)
            return
        if self.redirect_target:
            self.redirect_target = False
            self._emit("word", start, self.pos)
            return
        if self.after_function_keyword:
            self.after_function_keyword = False
            self._emit("word", start, self.pos)
            self.expect_command = True  # `function name {`: the brace may follow
            return
        in_case = self.case_states[-1] if self.case_states else ""
        if in_case == "head":
            if text == "in":
                self.case_states[-1] = "pattern"
            self._emit("word", start, self.pos)
            return
        if in_case == "pattern":
            if text == "esac":
                self.case_states.pop()
                self._emit("word", start, self.pos, command=True)
                self.expect_command = False
            else:
                self._emit("word", start, self.pos)  # a pattern, never a command
            return
        if not self.expect_command:
            self._emit("word", start, self.pos)
            return
        if _ASSIGNMENT_RE.match(text):
            self._emit("word", start, self.pos)  # `VAR=value cmd`: cmd still follows
            return
        self._emit("word", start, self.pos, command=True)
        if text in _KEEPS_COMMAND_POSITION:
            return
        self.expect_command = False
        if text == "function":
            self.after_function_keyword = True
        elif text == "case":
            self.case_states.append("head")
        elif text == "esac" and self.case_states:
            self.case_states.pop()

    def _scan_word(self) -> None:
        src = self.src
        while self.pos < len(src):
            plain = _PLAIN_WORD_RE.match(src, self.pos)
            if plain is not None:
                self.pos = plain.end()
                continue
            ch = src[self.pos]
            if ch == "\\":
                self.pos += 2
            elif ch == "'":
                self._skip_to("'", self.pos + 1)
            elif ch == '"':
                self._skip_double_quoted()
            elif ch == "`":
                self._skip_backticks()
            elif src.startswith("$'", self.pos):
                self._skip_ansi_c()
            elif src.startswith(("$(", "<(", ">("), self.pos):
                self.pos = self._balanced(self.pos + 1, "(", ")")
            elif src.startswith("${", self.pos):
                self.pos = self._balanced(self.pos + 1, "{", "}")
            elif ch == "(" and src[self.pos - 1 : self.pos] == "=" and self._assignment_so_far():
                self.pos = self._balanced(self.pos, "(", ")")  # array assignment
            elif ch in _METACHARS:
                return
            else:
                self.pos += 1

    def _assignment_so_far(self) -> bool:
        line_start = self.src.rfind("\n", 0, self.pos) + 1
        word = re.split(r"[ \t;&|]", self.src[line_start : self.pos])[-1]
        return bool(_ASSIGNMENT_RE.match(word))

    def _skip_to(self, closing: str, pos: int) -> None:
        end = self.src.find(closing, pos)
        self.pos = len(self.src) if end < 0 else end + 1

    def _skip_ansi_c(self) -> None:
        pos = self.pos + 2
        while pos < len(self.src) and self.src[pos] != "'":
            pos += 2 if self.src[pos] == "\\" else 1
        self.pos = min(pos + 1, len(self.src))

    def _skip_backticks(self) -> None:
        pos = self.pos + 1
        while pos < len(self.src) and self.src[pos] != "`":
            pos += 2 if self.src[pos] == "\\" else 1
        self.pos = min(pos + 1, len(self.src))

    def _skip_double_quoted(self) -> None:
        src = self.src
        pos = self.pos + 1
        while pos < len(src) and src[pos] != '"':
            if src[pos] == "\\":
                pos += 2
            elif src.startswith("$(", pos):
                pos = self._balanced(pos + 1, "(", ")")
            elif src.startswith("${", pos):
                pos = self._balanced(pos + 1, "{", "}")
            elif src[pos] == "`":
                self.pos = pos
                self._skip_backticks()
                pos = self.pos
            else:
                pos += 1
        self.pos = min(pos + 1, len(src))

    def _balanced(self, pos: int, opening: str, closing: str) -> int:
        """Return the offset just past the ``closing`` that matches ``src[pos]``."""
        src = self.src
        depth = 0
        while pos < len(src):
            ch = src[pos]
            if ch == "\\":
                pos += 2
                continue
            if ch == "'" and opening == "(":
                end = src.find("'", pos + 1)
                pos = len(src) if end < 0 else end + 1
                continue
            if ch == '"':
                self.pos = pos
                self._skip_double_quoted()
                pos = self.pos
                continue
            if ch == "`":
                self.pos = pos
                self._skip_backticks()
                pos = self.pos
                continue
            if ch == "#" and opening == "(" and src[pos - 1] in " \t\n":
                end = src.find("\n", pos)
                pos = len(src) if end < 0 else end
                continue
            if ch == opening:
                depth += 1
            elif ch == closing:
                depth -= 1
                if depth == 0:
                    return pos + 1
            pos += 1
        return pos


def tokenize(source: str) -> list[Token]:
    """Split bash ``source`` into tokens; heredoc bodies are left out."""
    return _Lexer(source).run()


def _significant(tokens: Sequence[Token], index: int, step: int, skip_lines: set[int]) -> int:
    """Index of the next token from ``index`` that is not a newline, comment or skipped line."""
    index += step
    while 0 <= index < len(tokens):
        token = tokens[index]
        if token.kind not in {"newline", "comment"} and token.line not in skip_lines:
            return index
        index += step
    return -1


def find_functions(tokens: Sequence[Token], name: str) -> list[FunctionBody]:
    """Find every definition of function ``name`` whose body is a ``{ ... }`` group.

    The forms ``name() {``, ``function name {`` and ``function name() {`` are
    recognised, with the brace on the same or a later line.
    """
    bodies = []
    for index, token in enumerate(tokens):
        if token.kind != "word" or token.text != name:
            continue
        after = index + 1
        previous = tokens[index - 1] if index else None
        by_keyword = previous is not None and previous.command and previous.text == "function"
        parens = [t.text for t in tokens[after : after + 2] if t.kind == "op"]
        if parens == ["(", ")"]:
            after += 2
        elif not by_keyword:
            continue
        if not by_keyword and not token.command:
            continue
        brace = _significant(tokens, after - 1, 1, set())
        if brace < 0 or tokens[brace].text != "{" or not tokens[brace].command:
            continue
        bodies.append(FunctionBody(name, token.line, brace, _closing_brace(tokens, brace, name)))
    return bodies


def _closing_brace(tokens: Sequence[Token], open_index: int, name: str) -> int:
    depth = 0
    for index in range(open_index, len(tokens)):
        token = tokens[index]
        if token.kind == "word" and token.command and token.text in {"{", "}"}:
            depth += 1 if token.text == "{" else -1
            if depth == 0:
                return index
    raise RegistrationScriptError(
        f"the body of function {name} starting at line {tokens[open_index].line} has no "
        "closing brace; check that the script was copied completely"
    )


def _line_end(tokens: Sequence[Token], index: int) -> int:
    """Index of the newline token ending the physical line of ``tokens[index]``, or -1.

    -1 means the command goes on past this line (continuation) or the file ends.
    """
    line = tokens[index].line
    for end in range(index, len(tokens)):
        if tokens[end].line != line:
            return -1
        if tokens[end].kind == "newline":
            return end
    return -1


def _dead_failure_handler(tail: Sequence[Token]) -> bool:
    """Whether ``tail`` (what follows the call on its line) runs only if the call fails.

    Once the call is disabled it always succeeds, so such a tail never runs
    and the whole line can be commented out without changing behaviour.
    Accepted: nothing, ``;``, or ``|| handler`` where the handler is one
    pipeline or a group closed on the same line (``|| exit 1``,
    ``|| { echo x; exit 1; }``).
    """
    tail = [t for t in tail if t.kind != "comment"]
    if tail and tail[-1].kind == "op" and tail[-1].text == ";":
        tail = tail[:-1]
    if not tail:
        return True
    if tail[0].kind != "op" or tail[0].text != "||":
        return False
    depth = 0
    for token in tail[1:]:
        if token.kind == "op" and token.text in _HEREDOCS:
            return False
        if token.kind == "op" and token.text in {"(", ")"}:
            depth += 1 if token.text == "(" else -1
        elif token.kind == "word" and token.command and token.text in {"{", "}"}:
            depth += 1 if token.text == "{" else -1
        elif token.kind == "op" and token.text in {";", "&&", "&", ";;", ";&", ";;&"}:
            if depth == 0:
                return False
        if depth < 0:
            return False
    return depth == 0


def _inline_marker(check: str) -> str:
    return f": '{MARKER} {check}'"


def _validate_names(skip_checks: Iterable[str], check_function: str) -> list[str]:
    names = list(dict.fromkeys(skip_checks))
    for name in [*names, check_function]:
        if not _NAME_RE.match(name or ""):
            raise RegistrationScriptError(
                f"{name!r} is not a bash function name; skip_checks and check_function "
                "take names such as check_os"
            )
    return names


def redact(text: str, keep: Iterable[str] = ()) -> str:
    """Replace the value of every ``NAME=value`` assignment and secret option in ``text``.

    The registration script carries a join token (``TOKEN="..."``, ``--token
    ...``); anything this module reports or shows in a diff goes through here
    so that a token on or near a call site is not printed.  An assignment whose
    value runs one of the ``keep`` checks (``os=$(check_os)``) is left readable,
    as it is the call site being reported.
    """
    kept = tuple(keep)

    def assignment(match: re.Match) -> str:
        value = match.group(2)
        if not value or any(re.search(rf"(\$\(|`)\s*{re.escape(n)}\b", value) for n in kept):
            return match.group(0)
        return f"{match.group(1)}{REDACTED}"

    text = _SECRET_OPTION_RE.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    return _ASSIGNMENT_VALUE_RE.sub(assignment, text)


def _element_bounds(tokens: Sequence[Token], index: int) -> tuple[int, int]:
    """First and last token index of the shell list element that holds ``tokens[index]``.

    An element ends at ``;``, ``&``, a newline or a comment outside any group,
    and at the reserved word or brace around it, so ``TOKEN=x; check_os || exit
    1`` gives ``check_os || exit 1`` and ``if ! check_os; then`` gives ``if !
    check_os``.
    """
    first, depth = index, 0
    for position in range(index - 1, -1, -1):
        token = tokens[position]
        if token.kind in {"newline", "comment"}:
            break
        if token.kind == "op" and token.text in _ELEMENT_SEPARATORS and depth == 0:
            break
        if token.text in {")", "}"} and (token.kind == "op" or token.command):
            depth += 1
        elif token.text in {"(", "{"} and (token.kind == "op" or token.command):
            if depth == 0:
                break
            depth -= 1
        elif token.command and depth == 0 and token.text in {"then", "do", "else"}:
            break
        first = position
    last, depth = index, 0
    for position in range(index + 1, len(tokens)):
        token = tokens[position]
        if token.kind in {"newline", "comment"}:
            break
        if token.kind == "op" and token.text in _ELEMENT_SEPARATORS and depth == 0:
            break
        if token.text in {"(", "{"} and (token.kind == "op" or token.command):
            depth += 1
        elif token.text in {")", "}"} and (token.kind == "op" or token.command):
            if depth == 0:
                break
            depth -= 1
        elif token.command and depth == 0 and token.text in _ENDS_ELEMENT:
            break
        last = position
    return first, last


def _element_text(source: str, tokens: Sequence[Token], index: int, keep: Iterable[str]) -> str:
    """The redacted text of the list element holding ``tokens[index]``, on one line."""
    first, last = _element_bounds(tokens, index)
    text = source[tokens[first].start : tokens[last].end]
    return redact(re.sub(r"\\?\n[ \t]*", " ", text), keep)


def _loop_condition(tokens: Sequence[Token], index: int, stop: int) -> int:
    """Index of the ``while``/``until`` whose condition runs ``tokens[index]``, or -1.

    Walks back to the innermost unclosed compound command; ``if``, ``{`` and
    ``then`` are looked through (a check in an ``if`` inside a loop condition
    is still part of the condition), ``do`` means the loop body.  Parentheses
    are ignored: they are subshells here, or case patterns that have no ``(``.
    """
    depth = 0
    for position in range(index - 1, stop, -1):
        token = tokens[position]
        if not token.command:
            continue
        if token.text in _COMPOUND_CLOSERS:
            depth += 1
        elif token.text in _COMPOUND_OPENERS:
            if depth:
                depth -= 1
            elif token.text in {"while", "until"}:
                return position
        elif token.text == "do" and depth == 0:
            return -1
    return -1


def _passes_loop_at_once(tokens: Sequence[Token], loop: int, index: int) -> bool:
    """Whether ``:`` in place of the call ends the loop at once, as a passed check would.

    True for ``until CALL; do`` and ``while ! CALL; do`` where the call, with
    its arguments and redirections, is the whole condition: the loop then
    waits for nothing.  Any other condition is left for a human.
    """
    position = loop + 1
    if tokens[loop].text == "while":
        if not (tokens[position].command and tokens[position].text == "!"):
            return False
        position += 1
    if position != index:
        return False
    position += 1
    while position < len(tokens) and (
        tokens[position].kind == "word"
        and not tokens[position].command
        or tokens[position].kind == "op"
        and tokens[position].text in _REDIRECTIONS
    ):
        position += 1
    while position < len(tokens) and (
        tokens[position].kind in {"newline", "comment"} or tokens[position].text == ";"
    ):
        position += 1
    return position < len(tokens) and tokens[position].command and tokens[position].text == "do"


def _loop_reason(keyword: str) -> str:
    return (
        f"condition of a {keyword} loop: a disabled check always passes, which can make the "
        "loop run forever; rewrite the loop by hand"
    )


_UNHANDLED_REASON = (
    "run through a command substitution or a wrapper command (command, eval, ...), which this "
    "module does not rewrite; comment it out by hand"
)


def plan_patch(source: str, skip_checks: Iterable[str], check_function: str = "check") -> Patch:
    """Work out the patched text of ``source``; nothing is written or run.

    A payload after a top-level ``exit`` (a self-extracting script) is neither
    lexed nor changed.  Raises RegistrationScriptError when ``check_function``
    is not defined.
    """
    names = _validate_names(skip_checks, check_function)
    script, payload, tokens = _split_payload(source)
    bodies = find_functions(tokens, check_function)
    if not bodies:
        raise RegistrationScriptError(
            f"no function {check_function} is defined in the script (looked for "
            f"'{check_function}() {{', 'function {check_function} {{' and "
            f"'function {check_function}() {{'); set check_function to the name of the "
            "function that calls the checks"
        )
    patch = Patch(before=source, after=source, payload=payload)
    wanted = set(names)
    sites: list[int] = []
    inline_only: set[int] = set()
    for body in bodies:
        for index in range(body.open_index + 1, body.close_index):
            token = tokens[index]
            if token.kind == "word" and token.command and token.text in wanted:
                loop = _loop_condition(tokens, index, body.open_index)
                if loop < 0:
                    sites.append(index)
                elif _passes_loop_at_once(tokens, loop, index):
                    sites.append(index)
                    inline_only.add(index)
                else:
                    text = _element_text(script, tokens, index, names)
                    reason = _loop_reason(tokens[loop].text)
                    patch.not_disabled.append(CallSite(token.line, text, token.text, "", reason))
            elif token.kind == "comment":
                patch.already_disabled.extend(_disabled_in_comment(token, wanted, names))
            elif token.kind == "word" and token.command and token.text == ":":
                following = tokens[index + 1] if index + 1 < len(tokens) else None
                match = _INLINE_MARKER_RE.match(following.text) if following else None
                if match and match.group(2) in wanted:
                    text = _element_text(script, tokens, index, names)
                    patch.already_disabled.append(
                        CallSite(token.line, text, match.group(2), "tke.flannel")
                    )
            elif token.kind == "word":
                previous = tokens[index - 1]
                wrapped = previous.command and previous.text in _WRAPPERS
                for name in names:
                    if (wrapped and token.text == name) or _substitutes(token.text, name):
                        text = _element_text(script, tokens, index, names)
                        patch.not_disabled.append(
                            CallSite(token.line, text, name, "", _UNHANDLED_REASON)
                        )
    patch.after = _rewrite(script, tokens, sites, wanted, inline_only) + payload
    patch.disabled = [
        CallSite(tokens[i].line, _element_text(script, tokens, i, names), tokens[i].text)
        for i in sites
    ]
    seen = {site.check for site in patch.disabled + patch.already_disabled + patch.not_disabled}
    patch.not_found = [name for name in names if name not in seen]
    return patch


def _split_payload(source: str) -> tuple[str, str, list[Token]]:
    """Split off data after a top-level ``exit`` that is not text; return the tokens too.

    A self-extracting script ends its shell part with ``exit 0`` and appends
    an archive.  Lexing the archive as shell is slow and meaningless, and
    ``bash -n`` rejects it, so the script part ends after the last unindented
    ``exit`` line before the first non-text byte, provided the lexer agrees
    that this ``exit`` is a command outside any function, group or quote.
    """
    binary = _BINARY_RE.search(source)
    if binary is not None:
        exits = list(_TOP_LEVEL_EXIT_RE.finditer(source, 0, binary.start()))
        if exits:
            script = source[: exits[-1].end()]
            tokens = tokenize(script)
            if _at_top_level(tokens, exits[-1].start()):
                return script, source[len(script) :], tokens
    return source, "", tokenize(source)


def _at_top_level(tokens: Sequence[Token], offset: int) -> bool:
    """Whether a command word starts at ``offset`` outside any compound command.

    Parentheses are not counted: case patterns close one that was never opened.
    """
    depth = 0
    for token in tokens:
        if token.start == offset:
            return token.command and depth == 0
        if token.command and token.text in _COMPOUND_OPENERS:
            depth += 1
        elif token.command and token.text in _COMPOUND_CLOSERS:
            depth -= 1
    return False


def _substitutes(word: str, name: str) -> bool:
    """Whether ``word`` runs ``name`` in a command substitution, e.g. ``$(check_os)``."""
    return re.search(rf"(\$\(|`)\s*{re.escape(name)}(?![\w.:-])", word) is not None


def _disabled_in_comment(token: Token, wanted: set[str], names: Sequence[str]) -> list[CallSite]:
    """Call sites that a comment shows as disabled, by this module or by hand.

    By hand counts only when the commented text is itself a call, as call
    sites look (``# check_os``, ``#check_os || exit 1``, ``# check_os "$1"
    >/dev/null``), not prose that names the check (``# check_os is called
    below``).
    """
    body = token.text.lstrip("#")
    inner = body.lstrip(" \t")
    leader = token.text[: len(token.text) - len(inner)]
    inner_tokens = tokenize(inner)
    call = inner_tokens[0] if inner_tokens else None
    text = leader + _element_text(inner, inner_tokens, 0, names) if call else leader.strip()
    marker = _COMMENT_MARKER_RE.search(token.text)
    if marker:
        found = [n for n in marker.group(1).split(", ") if n in wanted]
        return [CallSite(token.line, text, name, "tke.flannel") for name in found]
    if call is not None and call.command and call.text in wanted:
        following = inner_tokens[1] if len(inner_tokens) > 1 else None
        if _continues_a_call(following):
            return [CallSite(token.line, text, call.text, "hand")]
    return []


def _continues_a_call(token: Token | None) -> bool:
    """Whether ``token``, the one after a check's name in a comment, reads as shell.

    Limitation: a bare word argument (``# check_os strict``) reads as prose
    and is not taken as a call; quote it or use a variable to have it count.
    """
    if token is None or token.kind in {"newline", "comment"}:
        return True
    if token.kind == "op":
        return token.text in _CALL_FOLLOWERS or token.text in _REDIRECTIONS
    return bool(_ARGUMENT_RE.match(token.text)) or "=" in token.text


def _rewrite(
    source: str,
    tokens: Sequence[Token],
    sites: Sequence[int],
    wanted: set[str],
    inline_only: set[int],
) -> str:
    """Apply the rewrites for the call sites at token indices ``sites``.

    Sites in ``inline_only`` (loop conditions) always get the ``:`` rewrite:
    commenting out a condition would leave ``until`` with nothing to test.
    """
    commented: dict[int, list[str]] = {}  # line number -> checks disabled on it
    for index in sites:
        token = tokens[index]
        if index in inline_only:
            continue
        if token.line in commented:
            commented[token.line].append(token.text)
            continue
        at_line_start = index == 0 or tokens[index - 1].kind == "newline"
        end = _line_end(tokens, index)
        if not at_line_start or end < 0:
            continue
        after_call = index + 1
        while after_call < end and (
            tokens[after_call].kind == "word"
            and not tokens[after_call].command
            or tokens[after_call].kind == "op"
            and tokens[after_call].text in _REDIRECTIONS
        ):
            after_call += 1
        if _dead_failure_handler(tokens[after_call:end]):
            commented[token.line] = [token.text]
            others = [t for t in tokens[after_call:end] if t.command and t.text in wanted]
            commented[token.line].extend(t.text for t in others)

    # Commenting out every command of a block (a function body holding only the
    # call, a `then` branch) would leave it empty, which bash rejects: keep the
    # first such line as an inline no-op instead.
    for line in sorted(commented):
        first = next(i for i in sites if tokens[i].line == line)
        skip = set(commented)
        before = _significant(tokens, first, -1, skip)
        last_on_line = _line_end(tokens, first)
        after = _significant(tokens, last_on_line, 1, skip)
        if _opens_block(tokens, before) and _closes_block(tokens, after):
            del commented[line]

    source_lines = source.splitlines(keepends=True)
    edits: list[tuple[int, int, str]] = []
    for index in sites:
        token = tokens[index]
        if token.line not in commented:
            edits.append((token.start, token.end, _inline_marker(token.text)))
    offset = 0
    for number, line_text in enumerate(source_lines, start=1):
        if number in commented:
            body = line_text.rstrip("\n")
            indent = body[: len(body) - len(body.lstrip(" \t"))]
            checks = ", ".join(dict.fromkeys(commented[number]))
            new = f"{indent}# {body[len(indent) :]}  # {MARKER} {checks}"
            edits.append((offset, offset + len(body), new))
        offset += len(line_text)
    result = source
    for start, end, text in sorted(edits, reverse=True):
        result = result[:start] + text + result[end:]
    return result


def _opens_block(tokens: Sequence[Token], index: int) -> bool:
    if index < 0:
        return True
    token = tokens[index]
    if token.kind == "op":
        return token.text in {"(", ")"}
    return token.command and token.text in _BLOCK_OPENERS


def _closes_block(tokens: Sequence[Token], index: int) -> bool:
    if index < 0:
        return True
    token = tokens[index]
    if token.kind == "op":
        return token.text in {")", ";;", ";&", ";;&"}
    return token.command and token.text in _BLOCK_CLOSERS


def diff_excerpt(before: str, after: str, context: int = 2) -> tuple[str, str]:
    """Return the changed lines of ``before``/``after`` with ``context`` lines around.

    The script may embed a join token, so a diff never carries the whole file:
    only the groups of changed lines, each introduced by a line-range note that
    is the same on both sides.  A token can still sit on a line of context, so
    the value of every assignment and secret option in the excerpt is redacted.
    """
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    old_out: list[str] = []
    new_out: list[str] = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for group in matcher.get_grouped_opcodes(context):
        first, last = group[0], group[-1]
        note = f"# ... lines {first[1] + 1}-{last[2]} ...\n"
        old_out += [note, *(redact(line) for line in old[first[1] : last[2]])]
        new_out += [note, *(redact(line) for line in new[first[3] : last[4]])]
    return "".join(old_out), "".join(new_out)


def subprocess_runner(argv: Sequence[str], data: bytes) -> tuple[int, str, str]:
    """Default runner: run ``argv`` with ``data`` on stdin in the C locale."""
    proc = subprocess.run(
        list(argv),
        input=data,
        capture_output=True,
        check=False,
        env={**os.environ, "LC_ALL": "C"},
    )
    return (
        proc.returncode,
        proc.stdout.decode(errors="replace"),
        proc.stderr.decode(errors="replace"),
    )


def syntax_error(text: str, runner: Runner, bash: str = "bash") -> str | None:
    """Run ``bash -n`` on ``text``; return a summary of bash's complaint, or None if valid.

    The text goes through a private temporary file rather than stdin: bash
    stops reading at the first error, and writing the rest into a closed pipe
    fails.  The summary holds line numbers and kinds of error only (see
    ``bash_error_summary``).
    """
    handle, temporary = tempfile.mkstemp(prefix="tke-flannel-", suffix=".sh")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(encode_script(text))
        rc, _out, err = runner([bash, "-n", temporary], b"")
    finally:
        os.unlink(temporary)
    if rc == 0:
        return None
    return bash_error_summary(err) or f"bash -n exited with status {rc}"


def bash_error_summary(err: str) -> str:
    """Line numbers and kinds of error from bash's stderr, without any quoted source text.

    bash quotes the offending line (``line 9: `  TOKEN="..." )'``) and token;
    the script may carry a join token, so every backquoted part is dropped and
    so is the file name bash puts first.
    """
    parts: list[str] = []
    for raw in err.splitlines():
        match = re.search(r"\bline (\d+): (.*)$", raw)
        number, message = match.groups() if match else ("", raw.split(": ", 1)[-1])
        message = re.sub(r"`.*'", "", message)
        message = re.sub(r"\s*\(\w*\s*\)", "", message).strip(" :")
        if message:
            part = f"line {number}: {message}" if number else message
            if part not in parts:
                parts.append(part)
    return "; ".join(parts)


def read_script(path: str) -> str:
    """Read the script, keeping any non-UTF-8 bytes so they are written back unchanged."""
    if not os.path.exists(path):
        raise RegistrationScriptError(
            f"registration script {path} does not exist; copy the script from the TKE "
            "console (add node, third-party node) to that path first, or set path"
        )
    if not os.path.isfile(path):
        raise RegistrationScriptError(f"{path} is not a regular file; point path at the script")
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", "surrogateescape")
    except OSError as exc:
        raise RegistrationScriptError(f"cannot read {path}: {exc.strerror}") from exc


def encode_script(text: str) -> bytes:
    """Encode patched text back to the script's original bytes."""
    return text.encode("utf-8", "surrogateescape")


def prepare(
    path: str,
    skip_checks: Iterable[str],
    check_function: str,
    runner: Runner,
    bash: str = "bash",
) -> Patch:
    """Read the script at ``path`` and plan its patch, refusing one that bash rejects.

    Nothing is written: the caller writes ``patch.after`` when ``patch.changed``.
    A script with Windows line endings is refused before anything else, as
    bash cannot run it either.
    """
    source = read_script(path)
    binary = _BINARY_RE.search(source)
    if "\r\n" in (source[: binary.start()] if binary else source):
        raise RegistrationScriptError(
            f"{path} has Windows (CRLF) line endings, which bash cannot run either; convert "
            f"it (sed -i 's/\\r$//' {path}) and run again. Nothing was changed"
        )
    try:
        patch = plan_patch(source, skip_checks, check_function)
    except RegistrationScriptError as exc:
        raise RegistrationScriptError(f"{path}: {exc}") from exc
    if patch.changed:
        error = syntax_error(patch.script_after, runner, bash)
        if error is not None:
            if syntax_error(patch.script_before, runner, bash) is not None:
                raise RegistrationScriptError(
                    f"{path} is not valid bash even before patching ({error}); copy the "
                    "script from the TKE console again"
                )
            raise RegistrationScriptError(
                f"patching {path} would make it invalid bash ({error}); nothing was "
                "written. Comment out the calls in the check function by hand"
            )
    return patch
