"""Helpers shared by the verb modules: loading the inventory, JSON output, colour, tables.

Text from hosts is made harmless (labtui.text) where it is written: `render_table` does it for every cell,
the verbs for the lines they write themselves; `--json` output keeps the data as it came."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import IO, TYPE_CHECKING, Any

from labtui.errors import UserError
from labtui.text import harmless

if TYPE_CHECKING:
    from labtui.inventory.model import Inventory
    from labtui.inventory.schema import ConfigSchema
    from labtui.ssh.api import RemoteShell

# The body of a verb that talks to hosts: execute(args, inventory, shell) -> exit code.
SshVerbBody = Callable[[argparse.Namespace, "Inventory", "RemoteShell"], Awaitable[int]]


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")


def config_schema() -> ConfigSchema:
    """What labtui.toml may name: the registered deploy methods and check kinds (the inventory, below both
    registries, is handed them)."""
    from labtui.deploy.methods import METHODS
    from labtui.inventory.schema import ConfigSchema
    from labtui.ops.checks import CHECK_KINDS

    return ConfigSchema(methods=list(METHODS), check_kinds=list(CHECK_KINDS))


TARGETS_HELP = ("names, HOST.PROFILE, globs (`web*`), tags (`@prod`), comma lists (`web1,@db`) or deploy-rs "
                "targets (`.#web1`, `./lab#web1.system`, `.` for all)")


def add_target_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    """The hosts a verb acts on, as positionals and as deploy-rs's `--targets T...` (labtui.inventory.select)."""
    parser.add_argument("hosts", nargs="*", metavar="TARGET", help=f"{what}: {TARGETS_HELP}")
    parser.add_argument("--targets", nargs="+", action="extend", dest="more_targets", metavar="TARGET",
                        default=[], help="more targets, as deploy-rs takes them (`--targets .#web1 .#db1`)")


def target_tokens(args: argparse.Namespace) -> list[str]:
    """What the operator typed to name hosts: the positionals, `--targets`, or a single-host verb's HOST."""
    tokens = list(getattr(args, "hosts", None) or [])
    tokens += getattr(args, "more_targets", None) or []
    host = getattr(args, "host", None)
    if isinstance(host, str):
        tokens.append(host)
    return tokens


def load_inventory(args: argparse.Namespace) -> Inventory:
    """The fleet as the flake (and labtui.toml) describe it; raises UserError with a fix on bad input.

    The flake is --flake, or the one the targets name (`./lab#web1`), or the current directory.
    Warnings (e.g. a misspelt flake key deploy-rs would silently ignore) go to stderr for every verb.
    """
    from labtui.inventory import load_inventory as _load
    from labtui.inventory.select import flake_for

    flake = flake_for(target_tokens(args), getattr(args, "flake", None))
    inventory = _load(flake=flake, config=getattr(args, "config", None), schema=config_schema())
    for warning in inventory.warnings:
        print(f"labtui: warning: {harmless(warning)}", file=sys.stderr)
    return inventory


# How long verbs that wait for hosts (status, logs) give them by default; `--timeout S` changes it.
DEFAULT_HOST_TIMEOUT = 20.0
MAX_HOST_TIMEOUT = 86400.0


def check_timeout(seconds: float, option: str = "--timeout") -> float:
    """A timeout from the command line: a finite number of seconds, more than 0 (nan, inf refused)."""
    if not 0 < seconds <= MAX_HOST_TIMEOUT:  # False for nan too
        raise UserError(f"{option} must be a number of seconds more than 0 and at most {MAX_HOST_TIMEOUT:g}, "
                        f"not {seconds:g}")
    return seconds


def run_over_ssh(args: argparse.Namespace, execute: SshVerbBody, *, connect_timeout: float | None = None) -> int:
    """The body of a verb that talks to hosts: `execute(args, inventory, shell)` over one SSH pool
    (`connect_timeout`: seconds to connect and log in, default the pool's)."""
    import asyncio

    from labtui.ops.runtime import with_ssh_pool

    inventory = load_inventory(args)
    return asyncio.run(with_ssh_pool(inventory, lambda shell: execute(args, inventory, shell),
                                     connect_timeout=connect_timeout))


def print_json(obj: Any, stream: IO[str] | None = None) -> None:
    stream = stream or sys.stdout
    # One write: json.dump writes each token on its own (a hundred thousand calls for a fleet of 500).
    stream.write(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


COLOR_MODES = ("auto", "always", "never")
_color_mode = "auto"


def set_color_mode(mode: str) -> None:
    """`--color`: auto (a terminal, and NO_COLOR unset or empty), always, or never. The TUI follows it too."""
    global _color_mode
    if mode not in COLOR_MODES:
        raise ValueError(f"colour mode {mode!r} is not one of {COLOR_MODES}")
    _color_mode = mode


def no_color_requested() -> bool:
    """NO_COLOR counts only when set and not empty (https://no-color.org)."""
    return os.environ.get("NO_COLOR", "") != ""


def use_color(stream: IO[str] | None = None) -> bool:
    """Whether to colour what goes to `stream` (default stdout), by --color and NO_COLOR."""
    if _color_mode != "auto":
        return _color_mode == "always"
    stream = stream or sys.stdout
    return not no_color_requested() and hasattr(stream, "isatty") and stream.isatty()


def prepare_tui_colors() -> None:
    """Before a Textual app starts: Textual goes monochrome when NO_COLOR is set at all, even empty, and
    knows no --color. Make the environment say what labtui decided."""
    if _color_mode == "never":
        os.environ["NO_COLOR"] = "1"
    elif _color_mode == "always" or not no_color_requested():
        os.environ.pop("NO_COLOR", None)


_COLORS = {"red": "31", "green": "32", "yellow": "33", "blue": "34", "magenta": "35", "cyan": "36",
           "dim": "2", "bold": "1"}


# An outcome's tone (labtui.runs.outcomes) as a terminal colour.
TONE_COLOR = {"good": "green", "bad": "red", "warn": "yellow", "muted": "dim", "info": "cyan", "busy": "cyan"}


def outcome_color(outcome: str | None, *, run: bool = False) -> str:
    """The colour of a node (or, with run=True, a run) outcome; None: still running."""
    from labtui.runs.outcomes import node_look, run_look

    look = run_look(outcome) if run or outcome is None else node_look(outcome)
    return TONE_COLOR[look.tone]


def paint(text: str, color: str | None, enabled: bool) -> str:
    if not enabled or not color:
        return text
    return f"\x1b[{_COLORS[color]}m{text}\x1b[0m"


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, max_width: int = 80,
                 colors: Sequence[Sequence[str | None]] | None = None, color: bool = False) -> str:
    """A plain ASCII table. Columns shrink from the widest down (cells cut with '~') to fit max_width.

    Cells may hold text from hosts: each is made harmless (control characters shown escaped)."""
    headers = [harmless(h) for h in headers]
    rows = [[harmless(cell) for cell in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    gap = 2
    while sum(widths) + gap * (len(widths) - 1) > max_width:
        widest = max(range(len(widths)), key=lambda i: widths[i])
        if widths[widest] <= max(4, len(headers[widest])):
            break
        widths[widest] -= 1

    def fit(cell: str, width: int) -> str:
        return cell if len(cell) <= width else cell[: max(width - 1, 0)] + "~"

    lines = ["  ".join(fit(h, w).ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for r, row in enumerate(rows):
        cells = []
        for i, (cell, width) in enumerate(zip(row, widths, strict=False)):
            text = fit(cell, width).ljust(width)
            c = colors[r][i] if colors and r < len(colors) and i < len(colors[r]) else None
            cells.append(paint(text, c, color))
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
