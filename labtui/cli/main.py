"""Entry point: `labtui [VERB] ...`.

Each verb lives in its own module with `configure(parser)` and `run(args) -> int`. Only the module of
the verb being run is imported, so `labtui --help` and `--version` stay fast and import neither
Textual nor asyncssh.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType

from labtui import __version__
from labtui.cli.common import COLOR_MODES, set_color_mode
from labtui.cli.helptext import top_epilog, verb_epilog
from labtui.errors import UserError
from labtui.text import harmless

# verb -> (module, one-line help). Order is the order shown in --help. Each module has `configure(parser)`,
# `run(args) -> int`, and the texts of its --help: `EXAMPLES` and `EXIT_STATUS` (labtui.cli.helptext).
VERBS: dict[str, tuple[str, str]] = {
    "hosts": ("labtui.cli.hosts", "list the fleet from the flake, with merged settings and where each came from"),
    "init": ("labtui.cli.init", "write a labtui.toml for the flake's hosts"),
    "status": ("labtui.cli.status", "live status of hosts over SSH (reachable, load, memory, disk, drift, reboot)"),
    "check": ("labtui.cli.check", "run the health checks of hosts"),
    "logs": ("labtui.cli.logs", "show or follow a host's journal"),
    "diff": ("labtui.cli.diff", "what a deploy would change on each host: packages, sizes, reboot (nothing deployed)"),
    "deploy": ("labtui.cli.deploy", "deploy hosts with deploy-rs or nixos-rebuild"),
    "history": ("labtui.cli.history", "past deploy runs from the journal"),
    "parse-log": ("labtui.cli.parse_log", "turn a saved deploy-rs log into events and a per-node summary"),
    "generations": ("labtui.cli.generations", "list a host's system generations"),
    "rollback": ("labtui.cli.rollback", "switch a host back to an earlier generation"),
    "reboot": ("labtui.cli.reboot", "reboot hosts and track them back to service"),
    "exec": ("labtui.cli.exec", "run a command on many hosts at once, output per host"),
    "demo": ("labtui.cli.demo", "open labtui on an embedded simulated lab (no network, no root, no Nix)"),
    "completion": ("labtui.cli.completion", "print the shell completion script for bash, zsh or fish"),
}
# Verbs that read no flake: --flake/--config are not among their options. Given before the verb they are the
# global setting an alias carries (`alias lab='labtui --flake ~/lab'`), so every verb accepts them there.
# (parse-log reads one only when given --flake: the run's timeouts.)
NO_FLAKE_VERBS = frozenset({"history", "demo", "completion"})
TUI_MODULE = "labtui.cli.tui"
# Internal entry points, not in --help: `main(argv) -> int` of the module gets the arguments after the verb.
HIDDEN_VERBS: dict[str, str] = {
    "_supervise": "labtui.cli.supervise",  # a detached deploy's supervisor (labtui.runs.client)
    "_complete": "labtui.cli.completion",  # host names for the completion scripts, from the cache only
    "_manpage": "labtui.cli.manpage",  # labtui.1, made at build time (flake.nix)
}

_VALUE_OPTIONS = {"--flake", "--config", "--color"}


def _add_common(parser: argparse.ArgumentParser, *, top: bool, flake: bool = True) -> None:
    # On sub-parsers the defaults are suppressed so `labtui --flake X status` keeps X.
    default = None if top else argparse.SUPPRESS
    if flake:
        parser.add_argument("--flake", metavar="REF", default=default,
                            help="flake with the fleet (default: the current directory, like deploy-rs)")
        parser.add_argument("--config", metavar="PATH", default=default,
                            help="labtui.toml to use "
                            "(default: in the flake directory, else $XDG_CONFIG_HOME/labtui/config.toml)")
    parser.add_argument("--color", choices=COLOR_MODES, default="auto" if top else argparse.SUPPRESS,
                        help="colour on a terminal unless NO_COLOR is set and not empty (auto, the default), "
                        "always, or never")


def _selected_verb(argv: list[str]) -> str | None:
    skip = False
    for token in argv:
        if skip:
            skip = False
            continue
        if token in _VALUE_OPTIONS:
            skip = True
            continue
        if token == "--":
            return None
        if not token.startswith("-"):
            return token
    return None


def verb_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, *,
                configure: bool) -> argparse.ArgumentParser:
    """The sub-parser of `name`; with `configure`, its module is imported to add its arguments and help."""
    module_name, help_text = VERBS[name]
    sp = sub.add_parser(name, help=help_text, description=help_text + ".",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_common(sp, top=False, flake=name not in NO_FLAKE_VERBS)
    if configure:
        module = importlib.import_module(module_name)
        module.configure(sp)
        sp.epilog = verb_epilog(name, module)
    return sp


def build_parser(selected: str | None, *, every_verb: bool = False) -> tuple[argparse.ArgumentParser,
                                                                              ModuleType | None]:
    """labtui's parser; only `selected`'s module is imported (all of them with `every_verb`, for completion
    and the man page), so `labtui --help` stays fast."""
    parser = argparse.ArgumentParser(
        prog="labtui",
        description="Status, checks, logs and deploys for a NixOS lab described by one flake. "
        "Without a verb, opens the full-screen TUI.",
        epilog=top_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"labtui {__version__}")
    _add_common(parser, top=True)
    parser.add_argument("--ascii", action="store_true",
                        help="TUI: plain ASCII glyphs for terminals without good Unicode (also LABTUI_ASCII=1)")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    module: ModuleType | None = None
    for name in VERBS:
        verb_parser(sub, name, configure=every_verb or name == selected)
        if name == selected:
            module = importlib.import_module(VERBS[name][0])
    return parser, module


def join_dash_values(argv: list[str], options: tuple[str, ...]) -> list[str]:
    """`--since -1h` as `--since=-1h` for the verb's options whose values may start with `-` (argparse would read
    `-1h` as an option and say `expected one argument`)."""
    if not options:
        return argv
    out: list[str] = []
    tokens = iter(argv)
    for token in tokens:
        if token == "--":
            out += [token, *tokens]
            break
        if token in options:
            value = next(tokens, None)
            out.append(token if value is None else f"{token}={value}")
            continue
        out.append(token)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in HIDDEN_VERBS:
        return int(importlib.import_module(HIDDEN_VERBS[argv[0]]).main(argv[1:]))
    verb = _selected_verb(argv)
    try:
        parser, module = build_parser(verb if verb in VERBS else None)
        args = parser.parse_args(join_dash_values(argv, getattr(module, "DASH_VALUES", ())))
        if args.verb is None:
            module = importlib.import_module(TUI_MODULE)
        elif module is None:  # the verb was not where _selected_verb looked (`--fla X status`): parse again
            parser, module = build_parser(args.verb)
            args = parser.parse_args(argv)
        assert module is not None
        set_color_mode(args.color)
        return int(module.run(args) or 0)
    except UserError as exc:
        # Messages can quote what a host said (an SSH banner, a command's stderr): harmless on the terminal.
        print(f"labtui: error: {harmless(exc.message)}", file=sys.stderr)
        if exc.detail:
            print(harmless(exc.detail.rstrip("\n"), keep_newlines=True), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("labtui: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `labtui hosts | head`: the reader went away; nothing to report.
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
