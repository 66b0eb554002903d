"""Every `labtui ...` example in README.md and docs/*.md parses (issue 11 point 13: docs/ops.md's
`labtui logs host1 --since -1h` was refused by argparse).

Examples are the lines of fenced code blocks and the inline code spans that start with `labtui `. Synopses
(`[--json]`, `A|B`, `HOST...`) are not commands and are skipped; upper-case placeholders (HOST, RUN, N) stand
for a value and are given one. Each example goes through the real parser (`labtui.cli.main`), as typed.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from labtui.cli.main import VERBS, _selected_verb, build_parser, join_dash_values

REPO = Path(__file__).resolve().parents[2]
FILES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
_SPAN = re.compile(r"`(labtui [^`]+)`")
_PLACEHOLDER = re.compile(r"[A-Z][A-Z0-9_]*(\.[A-Z][A-Z0-9_]*)?")
_SYNOPSIS = ("[", "|", "...", "…", "<")
# docs/extending.md walks through adding this deploy method: its examples name a method not registered here.
_HYPOTHETICAL = ("lab-apply",)


def examples() -> list[tuple[str, str]]:
    """(where, command) of every example in the docs."""
    found: list[tuple[str, str]] = []
    for path in FILES:
        fenced = False
        for number, line in enumerate(path.read_text().splitlines(), 1):
            where = f"{path.relative_to(REPO)}:{number}"
            if line.lstrip().startswith("```"):
                fenced = not fenced
                continue
            if fenced:
                text = line.strip().removeprefix("$ ")
                if text.startswith("labtui ") or text == "labtui":
                    found.append((where, text))
            else:  # a span naming only a verb (`labtui parse-log`) refers to it, it is no example
                found += [(where, span) for span in _SPAN.findall(line) if len(span.split()) > 2]
    return found


def argv_of(command: str) -> list[str] | None:
    """The arguments after `labtui`, placeholders filled; None for a synopsis or something that is no command."""
    try:
        words = shlex.split(command, comments=True)
    except ValueError:
        return None
    args = words[1:]
    # What follows a shell operator (`> file`, `| less`) is the shell's, not labtui's.
    cut = [i for i, word in enumerate(args) if word in (">", ">>", "<", "|", "&&", "||", ";")]
    args = args[:cut[0]] if cut else args
    if any(marker in word for word in args for marker in _SYNOPSIS + _HYPOTHETICAL):
        return None
    if any(w.startswith("_") for w in args):
        return None  # the hidden `_supervise` verb
    verb = _selected_verb(args)
    if verb is not None and verb not in VERBS:
        return None  # prose in a code span ("labtui reads the flake ...")
    return ["1" if _PLACEHOLDER.fullmatch(word) else word for word in args]


EXAMPLES = [(where, command, argv) for where, command in examples() if (argv := argv_of(command)) is not None]


def test_the_docs_have_examples_to_check():
    assert len(EXAMPLES) > 20
    assert any("--since -1h" in command for _, command, _ in EXAMPLES)


@pytest.mark.parametrize("where, command, argv", EXAMPLES, ids=[f"{w} {c}" for w, c, _ in EXAMPLES])
def test_every_documented_example_parses(where, command, argv):
    verb = _selected_verb(argv)
    parser, module = build_parser(verb if verb in VERBS else None)
    try:
        args = parser.parse_args(join_dash_values(argv, getattr(module, "DASH_VALUES", ())))
    except SystemExit as exit_:
        assert exit_.code == 0, f"{where}: `{command}` does not parse"
        return
    assert args.verb == (verb if verb in VERBS else None), where
