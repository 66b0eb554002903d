"""`labtui _manpage` (hidden): labtui.1, the man page, generated from the parser like the completion scripts.

flake.nix runs it at build time and installs the page (`man labtui`); `labtui _manpage > labtui.1` makes it
anywhere else. No date goes in (builds stay reproducible): the version says which labtui it describes.
"""

from __future__ import annotations

import sys

from labtui import __version__
from labtui.cli.parserspec import CliSpec, Option, Positional, cli_spec

ENVIRONMENT = (
    ("NO_COLOR", "when set and not empty, no colour (as --color=never); an empty NO_COLOR is ignored"),
    ("LABTUI_ASCII", "1: the TUI uses plain ASCII glyphs (as --ascii)"),
    ("LABTUI_NIX_TIMEOUT", "seconds a flake evaluation may take (default 180)"),
    ("XDG_CONFIG_HOME", "where config.toml is looked for (default ~/.config)"),
    ("XDG_STATE_HOME", "where the deploy journal and the runs' logs are kept (default ~/.local/state)"),
    ("XDG_CACHE_HOME", "where flake evaluations are cached (default ~/.cache)"),
)
FILES = (
    ("labtui.toml", "beside the flake: tags, deploy method, critical hosts, health checks, jump host"),
    ("$XDG_CONFIG_HOME/labtui/config.toml", "used when the flake directory has no labtui.toml"),
    ("$XDG_STATE_HOME/labtui/", "the deploy journal (SQLite) and every run's full log, private to you"),
)
SEE_ALSO = "deploy(1), nixos-rebuild(8), nix(1), ssh(1), journalctl(1)"


def esc(text: str) -> str:
    """Text as roff shows it literally: backslashes, hyphens (so options stay copyable), line-leading dots."""
    out = text.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + out if out.startswith((".", "'")) else out


def _option(option: Option) -> list[str]:
    names = ", ".join(f"\\fB{esc(flag)}\\fR" for flag in option.flags)
    if option.value != "none":
        value = "{" + ",".join(option.choices) + "}" if option.choices else option.metavar
        names += f" \\fI{esc(value)}\\fR"
    return [".TP", names, esc(option.help)]


def _positional(positional: Positional) -> list[str]:
    return [".TP", f"\\fI{esc(positional.name)}\\fR" + (" ..." if positional.repeated else ""),
            esc(positional.help)]


def _usage(positional: Positional) -> str:
    word = f"\\fI{esc(positional.name)}\\fR" + ("..." if positional.repeated else "")
    return f"[{word}]" if positional.optional else word


def _examples_and_status(examples: tuple[tuple[str, str], ...], status: tuple[tuple[int, str], ...],
                         heading: str) -> list[str]:
    lines = [heading.replace("{what}", "Examples")]
    for command, what in examples:
        lines += [".TP", f"\\fB{esc(command)}\\fR", esc(what)]
    lines.append(heading.replace("{what}", "Exit status"))
    for code, meaning in status:
        lines += [".TP", f"\\fB{code}\\fR", esc(meaning)]
    return lines


def render(spec: CliSpec) -> str:
    lines = [
        f'.TH LABTUI 1 "" "labtui {__version__}" "User Commands"',
        ".SH NAME",
        "labtui \\- status, checks, logs and deploys for a NixOS lab described by one flake",
        ".SH SYNOPSIS",
        ".B labtui",
        "[\\fIOPTIONS\\fR]",
        ".br",
        ".B labtui",
        "[\\fIOPTIONS\\fR] \\fIVERB\\fR [\\fIARGUMENTS\\fR]",
        ".SH DESCRIPTION",
        esc(spec.description),
        ".PP",
        "Every verb prints one line saying what, where and how to fix on a user error, never a traceback. "
        + esc("`labtui VERB --help` shows what this page says of VERB."),
        ".SH OPTIONS",
        "These go before the verb (for every verb, as an alias carries them) or after it; after it, --flake and "
        "--config only with verbs that read a flake.",
    ]
    for option in spec.options:
        lines += _option(option)
    lines.append(".SH VERBS")
    for verb in spec.verbs:
        usage = " ".join([f"\\fB{esc(verb.name)}\\fR"] + [_usage(p) for p in verb.positionals])
        lines += [".SS " + usage, esc(verb.summary) + "."]
        for positional in verb.positionals:
            lines += _positional(positional)
        for option in verb.options:
            if not {"-h", "--help"} & set(option.flags) and option not in spec.options:
                lines += _option(option)
        lines += _examples_and_status(verb.examples, verb.exit_status, ".PP\n\\fI{what}:\\fR")
    lines += _examples_and_status(spec.examples, spec.exit_status, ".SH {what}").copy()
    lines[lines.index(".SH Examples")] = ".SH EXAMPLES"
    lines[lines.index(".SH Exit status")] = ".SH EXIT STATUS"
    lines.append(".SH ENVIRONMENT")
    for name, what in ENVIRONMENT:
        lines += [".TP", f"\\fB{esc(name)}\\fR", esc(what)]
    lines.append(".SH FILES")
    for name, what in FILES:
        lines += [".TP", f"\\fI{esc(name)}\\fR", esc(what)]
    lines += [".SH SEE ALSO", esc(SEE_ALSO)]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if argv:
        print("labtui: error: `labtui _manpage` takes no arguments; it prints labtui.1 on stdout", file=sys.stderr)
        return 2
    sys.stdout.write(render(cli_spec()))
    return 0
