"""Glyphs for states and bars, in Unicode and in plain ASCII.

Colour is never the only signal: every state has a glyph (nix-output-monitor's semantics: yellow
running, green done, blue queued, red failed), so the TUI still reads right with NO_COLOR and on
terminals without good Unicode (`--ascii` or LABTUI_ASCII=1).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from labtui.runs.outcomes import NODE_LOOKS, QUEUED, RUNNING


@dataclass(frozen=True)
class Glyphs:
    up: str
    degraded: str
    down: str
    connecting: str
    auth: str
    key: str
    running: str
    done: str
    queued: str
    failed: str
    rolled_back: str
    dry: str
    cancelled: str
    stall: str
    mark: str
    unmark: str
    drift: str
    in_sync: str
    reboot: str
    unknown: str
    bar_full: str
    bar_empty: str
    bar_left: str
    bar_right: str
    arrow_up: str
    arrow_down: str
    spinner: tuple[str, ...]
    ellipsis: str
    dot: str
    ascii: bool = False  # outcome glyphs come from labtui.runs.outcomes: which of its two columns


UNICODE = Glyphs(
    up="●", degraded="▲", down="✖", connecting="◌", auth="⚿", key="⚠",
    running=RUNNING.glyph, done=NODE_LOOKS["succeeded"].glyph, queued=QUEUED.glyph, failed=NODE_LOOKS["failed"].glyph,
    rolled_back=NODE_LOOKS["rolled_back"].glyph, dry=NODE_LOOKS["dry_activated"].glyph,
    cancelled=NODE_LOOKS["cancelled"].glyph, stall="⌛",
    mark="▌", unmark=" ", drift="≠", in_sync="=", reboot="⟳", unknown="?",
    bar_full="█", bar_empty="░", bar_left="", bar_right="",
    arrow_up="▲", arrow_down="▼",
    spinner=("⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"), ellipsis="…", dot="·",
)

ASCII = Glyphs(
    up="o", degraded="!", down="x", connecting=".", auth="A", key="K",
    running=RUNNING.ascii, done=NODE_LOOKS["succeeded"].ascii, queued=QUEUED.ascii, failed=NODE_LOOKS["failed"].ascii,
    rolled_back=NODE_LOOKS["rolled_back"].ascii, dry=NODE_LOOKS["dry_activated"].ascii,
    cancelled=NODE_LOOKS["cancelled"].ascii, stall="S",
    mark="*", unmark=" ", drift="~", in_sync="=", reboot="B", unknown="?",
    bar_full="#", bar_empty=".", bar_left="[", bar_right="]",
    arrow_up="^", arrow_down="v",
    spinner=("|", "/", "-", "\\"), ellipsis="~", dot="-", ascii=True,
)


def ascii_requested(flag: bool = False) -> bool:
    """--ascii, or LABTUI_ASCII set to something other than 0/empty."""
    value = os.environ.get("LABTUI_ASCII", "")
    return flag or (value not in ("", "0", "false", "no"))


def pick(ascii_mode: bool) -> Glyphs:
    return ASCII if ascii_mode else UNICODE


def bar(g: Glyphs, fraction: float, width: int) -> str:
    """A progress/countdown bar of `width` cells (plus ASCII brackets), `fraction` in 0..1 filled."""
    fraction = min(1.0, max(0.0, fraction))
    filled = round(fraction * width)
    return f"{g.bar_left}{g.bar_full * filled}{g.bar_empty * (width - filled)}{g.bar_right}"
