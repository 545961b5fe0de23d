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

import bisect
import difflib
import os
import re
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

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

# Reserved words after which the next word is again a command.
_KEEPS_COMMAND_POSITION = frozenset(
    {"if", "then", "else", "elif", "do", "while", "until", "!", "{", "time"}
)
# Words that open or close a block; a block left with no command is a syntax error.
_BLOCK_OPENERS = frozenset({"{", "then", "do", "else"})
_BLOCK_CLOSERS = frozenset({"}", "fi", "done", "esac", "elif", "else"})


class RegistrationScriptError(Exception):
    """The script cannot be patched; the message says what to do about it."""


@dataclass(frozen=True)
class Token:
    """One lexical unit of the script.

    ``kind`` is ``word``, ``op``, ``newline`` or ``comment``.  ``command`` is
    true for a word in command position (the name of the command to run).
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
    """A call of a check inside the check function, as reported to the user."""

    line: int
    text: str
    check: str
    by: str = ""

    def as_dict(self) -> dict[str, object]:
        """Return the shape used in module results."""
        result: dict[str, object] = {"line": self.line, "text": self.text, "check": self.check}
        if self.by:
            result["by"] = self.by
        return result


@dataclass
class Patch:
    """Outcome of planning the patch of one script (nothing is written here)."""

    before: str
    after: str
    disabled: list[CallSite] = field(default_factory=list)
    already_disabled: list[CallSite] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)
    unhandled: list[CallSite] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether the patched text differs from the original."""
        return self.before != self.after


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
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", source)]
        self.expect_command = True
        self.redirect_target = False
        self.heredoc_delimiter_next: bool | None = None  # strip-tabs flag while pending
        self.pending_heredocs: list[tuple[str, bool]] = []
        self.after_function_keyword = False
        self.function_name_seen = False
        self.case_states: list[str] = []  # "head", "pattern" or "body"

    def line_of(self, offset: int) -> int:
        return bisect.bisect_right(self.line_starts, offset)

    def run(self) -> list[Token]:
        src = self.src
        while self.pos < len(src):
            ch = src[self.pos]
            if ch in " \t\r":
                self.pos += 1
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
                op = next((o for o in _OPERATORS if src.startswith(o, self.pos)), None)
                if op is None:
                    self._word()
                else:
                    self._operator(op)
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


def _source_line(lines: Sequence[str], number: int) -> str:
    return lines[number - 1].strip() if 0 < number <= len(lines) else ""


def _validate_names(skip_checks: Iterable[str], check_function: str) -> list[str]:
    names = list(dict.fromkeys(skip_checks))
    for name in [*names, check_function]:
        if not _NAME_RE.match(name or ""):
            raise RegistrationScriptError(
                f"{name!r} is not a bash function name; skip_checks and check_function "
                "take names such as check_os"
            )
    return names


def plan_patch(source: str, skip_checks: Iterable[str], check_function: str = "check") -> Patch:
    """Work out the patched text of ``source``; nothing is written or run.

    Raises RegistrationScriptError when ``check_function`` is not defined.
    """
    names = _validate_names(skip_checks, check_function)
    tokens = tokenize(source)
    bodies = find_functions(tokens, check_function)
    if not bodies:
        raise RegistrationScriptError(
            f"no function {check_function} is defined in the script (looked for "
            f"'{check_function}() {{', 'function {check_function} {{' and "
            f"'function {check_function}() {{'); set check_function to the name of the "
            "function that calls the checks"
        )
    lines = source.splitlines()
    patch = Patch(before=source, after=source)
    wanted = set(names)
    sites: list[int] = []
    for body in bodies:
        for index in range(body.open_index + 1, body.close_index):
            token = tokens[index]
            if token.kind == "word" and token.command and token.text in wanted:
                sites.append(index)
            elif token.kind == "comment":
                patch.already_disabled.extend(_disabled_in_comment(token, wanted, lines))
            elif token.kind == "word" and token.command and token.text == ":":
                following = tokens[index + 1] if index + 1 < len(tokens) else None
                match = _INLINE_MARKER_RE.match(following.text) if following else None
                if match and match.group(2) in wanted:
                    site = CallSite(token.line, _source_line(lines, token.line), match.group(2))
                    patch.already_disabled.append(_by(site, "tke.flannel"))
            elif token.kind == "word":
                previous = tokens[index - 1]
                wrapped = previous.command and previous.text in _WRAPPERS
                for name in names:
                    if (wrapped and token.text == name) or _substitutes(token.text, name):
                        line_text = _source_line(lines, token.line)
                        patch.unhandled.append(CallSite(token.line, line_text, name))
    patch.after = _rewrite(source, tokens, sites, wanted)
    patch.disabled = [
        CallSite(tokens[i].line, _source_line(lines, tokens[i].line), tokens[i].text) for i in sites
    ]
    seen = {site.check for site in patch.disabled + patch.already_disabled}
    patch.not_found = [name for name in names if name not in seen]
    return patch


def _substitutes(word: str, name: str) -> bool:
    """Whether ``word`` runs ``name`` in a command substitution, e.g. ``$(check_os)``."""
    return re.search(rf"(\$\(|`)\s*{re.escape(name)}(?![\w.:-])", word) is not None


def _by(site: CallSite, who: str) -> CallSite:
    return CallSite(site.line, site.text, site.check, who)


def _disabled_in_comment(token: Token, wanted: set[str], lines: Sequence[str]) -> list[CallSite]:
    """Call sites that a comment shows as disabled, by this module or by hand."""
    text = _source_line(lines, token.line)
    marker = _COMMENT_MARKER_RE.search(token.text)
    if marker:
        found = [n for n in marker.group(1).split(", ") if n in wanted]
        return [CallSite(token.line, text, name, "tke.flannel") for name in found]
    match = re.match(r"#+\s*([^\s;|&()#]+)", token.text)
    if match and match.group(1) in wanted:
        return [CallSite(token.line, text, match.group(1), "hand")]
    return []


def _rewrite(source: str, tokens: Sequence[Token], sites: Sequence[int], wanted: set[str]) -> str:
    """Apply the rewrites for the call sites at token indices ``sites``."""
    commented: dict[int, list[str]] = {}  # line number -> checks disabled on it
    for index in sites:
        token = tokens[index]
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
    is the same on both sides.
    """
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    old_out: list[str] = []
    new_out: list[str] = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for group in matcher.get_grouped_opcodes(context):
        first, last = group[0], group[-1]
        note = f"# ... lines {first[1] + 1}-{last[2]} ...\n"
        old_out += [note, *old[first[1] : last[2]]]
        new_out += [note, *new[first[3] : last[4]]]
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
    """Run ``bash -n`` on ``text``; return bash's message if it is not valid, else None."""
    rc, _out, err = runner([bash, "-n"], text.encode("utf-8", "surrogateescape"))
    if rc == 0:
        return None
    return err.strip() or f"bash -n exited with status {rc}"


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
    """
    source = read_script(path)
    try:
        patch = plan_patch(source, skip_checks, check_function)
    except RegistrationScriptError as exc:
        raise RegistrationScriptError(f"{path}: {exc}") from exc
    if patch.changed:
        error = syntax_error(patch.after, runner, bash)
        if error is not None:
            if syntax_error(source, runner, bash) is not None:
                raise RegistrationScriptError(
                    f"{path} is not valid bash even before patching ({error}); copy the "
                    "script from the TKE console again"
                )
            raise RegistrationScriptError(
                f"patching {path} would make it invalid bash ({error}); nothing was "
                "written. Comment out the calls in the check function by hand"
            )
    return patch
