"""labtui's command line as data, read from its argparse parser: what completion and the man page are made of.

`cli_spec()` builds the parser with every verb configured (labtui.cli.main.build_parser) and walks it, so
the completion scripts and the man page can never disagree with `--help`. What a value is (a host, a file,
a directory, one of some choices) is read from the argument's metavar and choices.
"""

from __future__ import annotations

import argparse
import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Literal

from labtui.cli import helptext
from labtui.cli.helptext import Examples

ValueKind = Literal["none", "host", "file", "dir", "choice", "text"]


@dataclass(frozen=True)
class Option:
    flags: tuple[str, ...]  # "-y", "--yes"
    help: str
    value: ValueKind  # "none": a flag that takes no value
    metavar: str = ""
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Positional:
    name: str  # its metavar, as --help shows it
    help: str
    value: ValueKind
    repeated: bool  # nargs * or +
    choices: tuple[str, ...] = ()
    optional: bool = False  # nargs * or ?


@dataclass(frozen=True)
class Verb:
    name: str
    summary: str
    options: tuple[Option, ...]
    positionals: tuple[Positional, ...]
    epilog: str
    examples: Examples = ()
    exit_status: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True)
class CliSpec:
    prog: str
    description: str
    options: tuple[Option, ...]  # before the verb
    verbs: tuple[Verb, ...]
    epilog: str
    examples: Examples = ()
    exit_status: tuple[tuple[int, str], ...] = ()

    def verb(self, name: str) -> Verb:
        return next(v for v in self.verbs if v.name == name)


def _kind(metavar: str, choices: tuple[str, ...]) -> ValueKind:
    if choices:
        return "choice"
    upper = metavar.upper()
    if "HOST" in upper or "NODE" in upper or "TARGET" in upper:
        return "host"
    if "FILE" in upper or "PATH" in upper:
        return "file"
    if upper in ("DIR", "REF"):  # --flake REF: most often a directory
        return "dir"
    return "text"


def _metavar(action: argparse.Action) -> str:
    metavar = action.metavar
    if isinstance(metavar, tuple):
        return " ".join(metavar)
    return metavar or (action.dest.upper() if action.option_strings else action.dest)


def _options(parser: argparse.ArgumentParser) -> tuple[Option, ...]:
    out = []
    for action in parser._actions:
        if not action.option_strings or action.help == argparse.SUPPRESS:
            continue
        choices = tuple(str(c) for c in action.choices) if action.choices else ()
        takes_value = action.nargs != 0
        metavar = _metavar(action) if takes_value else ""
        out.append(Option(flags=tuple(action.option_strings), help=action.help or "",
                          value=_kind(metavar, choices) if takes_value else "none", metavar=metavar,
                          choices=choices))
    return tuple(out)


def _positionals(parser: argparse.ArgumentParser) -> tuple[Positional, ...]:
    out = []
    for action in parser._actions:
        if action.option_strings or isinstance(action, argparse._SubParsersAction):
            continue
        choices = tuple(str(c) for c in action.choices) if action.choices else ()
        metavar = _metavar(action)
        out.append(Positional(name=metavar, help=action.help or "", value=_kind(metavar, choices),
                              repeated=action.nargs in ("*", "+", argparse.REMAINDER, argparse.PARSER),
                              choices=choices,
                              optional=action.nargs in ("*", "?")))
    return tuple(out)


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The verbs' parsers, in --help order."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def spec_of(parser: argparse.ArgumentParser, summaries: dict[str, str],
            modules: dict[str, ModuleType] | None = None) -> CliSpec:
    """The spec of `parser`; `modules` (verb -> its module) give each verb's examples and exit status."""
    modules = modules or {}

    def verb(name: str, sp: argparse.ArgumentParser) -> Verb:
        module = modules.get(name)
        return Verb(name=name, summary=summaries.get(name, ""), options=_options(sp), positionals=_positionals(sp),
                    epilog=sp.epilog or "", examples=helptext.examples(module) if module else (),
                    exit_status=tuple(sorted(helptext.exit_status(module).items())) if module else ())

    return CliSpec(prog=parser.prog, description=parser.description or "", options=_options(parser),
                   verbs=tuple(verb(name, sp) for name, sp in subparsers(parser).items()),
                   epilog=parser.epilog or "", examples=helptext.TOP_EXAMPLES,
                   exit_status=tuple(sorted({**helptext.COMMON_EXIT_STATUS, **helptext.TOP_EXIT_STATUS}.items())))


def cli_spec() -> CliSpec:
    """labtui's own command line, every verb configured."""
    from labtui.cli.main import VERBS, build_parser

    parser, _ = build_parser(None, every_verb=True)
    modules = {name: importlib.import_module(module) for name, (module, _) in VERBS.items()}
    return spec_of(parser, {name: summary for name, (_, summary) in VERBS.items()}, modules)
