"""How values read on screen: short fixed-width cells, glyph and style per state and outcome, the text of the ops
views (checks, generations, journal entries). Pure functions over the core's types; Rich text, no Textual.

Text from hosts goes on screen through `labtui.text.harmless` (control characters shown escaped) and as Rich
`Text` or plain `Log` lines, never as markup: a unit called `[bold]x` reads `[bold]x`."""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Iterable

from rich.text import Text

from labtui.ops.checks import CheckResult
from labtui.ops.generations import GenerationInfo
from labtui.ops.logs import LogEntry, LogItem
from labtui.runs.outcomes import Look, node_look, run_look
from labtui.ssh.api import HostState
from labtui.status.model import HostStatus
from labtui.text import harmless
from labtui.tui.glyphs import Glyphs

# Theme variables cannot go into Rich Text styles; these plain ANSI names degrade well on 16/256 colours.
_RICH = {"$success": "green", "$warning": "yellow", "$error": "red", "$text-muted": "dim",
         "$secondary": "blue", "$accent": "magenta", "": ""}


def rich_style(style: str) -> str:
    return _RICH.get(style, style)


def styled(text: str, style: str) -> Text:
    return Text(text, style=rich_style(style))

# State -> (glyph attribute, word, style). Styles are theme variables so every theme and NO_COLOR work.
STATE_STYLE: dict[HostState, tuple[str, str, str]] = {
    HostState.UP: ("up", "up", "$success"),
    HostState.DEGRADED: ("degraded", "degraded", "$warning"),
    HostState.DOWN: ("down", "down", "$error"),
    HostState.CONNECTING: ("connecting", "connecting", "$text-muted"),
    HostState.AUTH_FAILED: ("auth", "auth failed", "$error"),
    HostState.HOST_KEY_UNKNOWN: ("key", "key unknown", "$error"),
    HostState.HOST_KEY_CHANGED: ("key", "KEY CHANGED", "$error"),
}

# An outcome's tone (labtui.runs.outcomes, the one table of words and glyphs) -> style.
TONE_STYLE: dict[str, str] = {"good": "$success", "bad": "$error", "warn": "$warning", "muted": "$text-muted",
                              "info": "$secondary", "busy": "$warning"}


def state_cell(g: Glyphs, state: HostState) -> tuple[str, str, str]:
    glyph_attr, word, style = STATE_STYLE.get(state, ("unknown", str(state), "$text-muted"))
    return getattr(g, glyph_attr), word, style


def _cell(g: Glyphs, look: Look) -> tuple[str, str, str]:
    return look.mark(g.ascii), look.word, TONE_STYLE[look.tone]


def outcome_cell(g: Glyphs, outcome: str | None) -> tuple[str, str, str]:
    """(glyph, word, style) of a node outcome; ("", "", "") for none."""
    if outcome is None:
        return "", "", ""
    return _cell(g, node_look(outcome))


def run_cell(g: Glyphs, outcome: str | None) -> tuple[str, str, str]:
    """(glyph, word, style) of a run outcome; None: running."""
    return _cell(g, run_look(outcome))


def duration(seconds: float | None, *, precise: bool = False) -> str:
    """38d, 5h, 12m, 40s (one unit, like k9s' AGE column); `precise` gives 1m05s under an hour."""
    if seconds is None:
        return "-"
    seconds = max(0.0, seconds)
    if precise and seconds < 3600:
        m, s = divmod(int(seconds), 60)
        return f"{m}m{s:02d}s" if m else f"{s}s"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}%"


def load(status: HostStatus) -> str:
    return "-" if status.load is None else f"{status.load[0]:.2f}"


def load_ratio(status: HostStatus) -> float | None:
    if status.load is None or not status.cpus:
        return None
    return status.load[0] / status.cpus


def worst_disk(status: HostStatus) -> float | None:
    return max((d.percent for d in status.disks), default=None)


def level_style(value: float | None, warn: float, crit: float) -> str:
    if value is None:
        return "$text-muted"
    if value >= crit:
        return "$error"
    if value >= warn:
        return "$warning"
    return ""


def human_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if size < 1024 or unit == "PiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def seconds_left(deadline: float, now: float) -> int:
    return max(0, math.ceil(deadline - now))


def short_store_path(path: str | None) -> str:
    """`/nix/store/abcd…-nixos-system-x` -> `abcd…-nixos-system-x` with the hash cut to 7 chars."""
    if not path:
        return "-"
    name = harmless(path.rsplit("/", 1)[-1])
    digest, _, rest = name.partition("-")
    return f"{digest[:7]}-{rest}" if rest else name


def truncate(text: str, width: int, ellipsis: str = "…") -> str:
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: max(0, width - len(ellipsis))] + ellipsis


# -- the ops views ------------------------------------------------------------------------------------
_PRIO = ("emerg", "alert", "crit", "err", "warn", "notice", "info", "debug")


def log_line(item: LogItem) -> str:
    """A journal entry as one line (`Nov 26 12:00:01 nginx.service[warn]: ...`), a notice between dashes.

    Anyone on the host can write the journal (`logger`): unit and message are made harmless (a newline in a
    message shows as `\\x0a`, so one entry stays one line)."""
    if isinstance(item, LogEntry):
        when = _dt.datetime.fromtimestamp(item.ts).strftime("%b %d %H:%M:%S")
        prio = _PRIO[item.priority] if 0 <= item.priority < len(_PRIO) else str(item.priority)
        return f"{when} {harmless(item.unit)}[{prio}]: {harmless(item.message.rstrip(chr(10)))}"
    return f"-- {harmless(item.message)} --"


def check_lines(results: Iterable[CheckResult]) -> list[str]:
    """One line per check, failures first."""
    lines = []
    for r in results:
        mark = "PASS" if r.ok else "FAIL"
        lines.append(harmless(f"{mark}  {r.check:<24} {r.kind:<8} {r.message}  "
                              f"({r.attempts} attempt(s), {r.duration:.1f}s)"))
    return sorted(lines, key=lambda line: line.startswith("PASS"))


def _flags(g: GenerationInfo) -> list[str]:
    return [f for f, on in (("current", g.current), ("booted", g.booted), ("next-boot", g.default)) if on]


def generation_lines(gens: Iterable[GenerationInfo]) -> list[str]:
    """The generations view: a header, then newest first."""
    lines = [f"{'GEN':>5}  {'DATE':<19} {'NIXOS':<28} {'KERNEL':<10} FLAGS"]
    for g in sorted(gens, key=lambda g: g.number, reverse=True):
        lines.append(harmless(f"{g.number:>5}  {g.date[:19]:<19} {g.nixos_version:<28} {g.kernel or '-':<10} "
                              f"{' '.join(_flags(g))}"))
    return lines


def compact_generation(g: GenerationInfo) -> str:
    """`  54 2026-11-25 6.6.63 current` for the narrow details panel (the generations view has every column).
    booted/next-boot on the current generation is the normal case: not repeated there."""
    flags = _flags(g)
    if g.current:
        flags = ["current"] + [f for f in flags if f not in ("current", "booted", "next-boot")]
    return harmless(" ".join([f"{g.number:>4}", g.date[:10], g.kernel or "-", *flags]))
