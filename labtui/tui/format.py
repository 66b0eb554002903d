"""How values read on screen: short fixed-width cells, glyph and style per state and outcome, the text of the ops
views (checks, generations, journal entries). Pure functions over the core's types; Rich text, no Textual.

Text from hosts goes on screen through `labtui.text.harmless` (control characters shown escaped) and as Rich
`Text` or plain `Log` lines, never as markup: a unit called `[bold]x` reads `[bold]x`."""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Iterable
from functools import lru_cache

from rich.text import Text

from labtui.ops.checks import CheckResult
from labtui.ops.generations import GenerationInfo
from labtui.ops.logs import LogEntry, LogItem
from labtui.runs.outcomes import Look, node_look, run_look
from labtui.ssh.api import HostState
from labtui.status.model import HostStatus, SystemLink
from labtui.text import harmless
from labtui.tui.glyphs import Glyphs

# Theme variables cannot go into Rich Text styles; these plain ANSI names degrade well on 16/256 colours.
_COLOURED = {"$success": "green", "$warning": "yellow", "$error": "red", "$text-muted": "dim", "$secondary": "blue",
             "$accent": "magenta"}
# Without colour (NO_COLOR) weight carries what colour would: an error reversed, a warning bold, nothing dimmed
# (Textual draws dim and colours as greys, some of them nearly the background's).
_WEIGHTED = {"$success": "", "$warning": "bold", "$error": "bold reverse", "$text-muted": "", "$secondary": "",
             "$accent": ""}
_tokens = _COLOURED


def use_colour(enabled: bool) -> None:
    """Whether styles use colours (the app sets it from NO_COLOR when it starts)."""
    global _tokens
    _tokens = _COLOURED if enabled else _WEIGHTED
    _rich_style.cache_clear()


def rich_style(style: str) -> str:
    """A style of theme names (`$error`, `bold $warning`) as a Rich style, coloured or weighted."""
    return _rich_style(style, _tokens is _COLOURED)


@lru_cache(maxsize=256)
def _rich_style(style: str, coloured: bool) -> str:
    return " ".join(dict.fromkeys(_tokens.get(t, t) for t in style.split() if _tokens.get(t, t))) or ""


def styled(text: str, style: str) -> Text:
    return Text(text, style=rich_style(style))


def cell_key(cell: Text | str) -> tuple[str, str]:
    """What a table cell shows: its text and styles (cells with equal keys draw the same). Tables compare
    keys to write only the cells that changed."""
    if isinstance(cell, Text):
        return cell.plain, f"{cell.style}|{cell.spans}" if cell.spans else str(cell.style)
    return cell, ""

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


STALE_POLLS = 3  # data older than this many poll intervals is stale (shown in the warning colour)


def data_age(age: float, poll_interval: float | None) -> tuple[str, bool]:
    """How old a host's data is, coarsely: `<15s` while it is fresh (younger than three poll intervals),
    the age itself once stale. (text, stale). A ticking age would repaint every row every second."""
    limit = STALE_POLLS * max(poll_interval or 0.0, 1.0)
    if age <= limit:
        return f"<{duration(limit)}", False
    return duration(age), True


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


def short_store_path(path: str | None, width: int | None = None, ellipsis: str = "…") -> str:
    """`/nix/store/6grh1qk…32-nixos-system-web1-25.11` -> `6grh1qk…-nixos-system-web1-25.11`: the hash cut to 7
    characters (enough to tell two apart), the name whole; with `width`, the name's end is cut (ellipsis), never the
    hash prefix or the name's start. A path inside a store path (`…-linux-6.6/bzImage`) is named by its store
    entry (`…-linux-6.6/bzImage`), not by its file."""
    if not path:
        return "-"
    text = harmless(path)
    entry = text.split("/nix/store/", 1)[1] if "/nix/store/" in text else text.rsplit("/", 1)[-1]
    digest, dash, rest = entry.partition("-")
    short = f"{digest[:7]}{ellipsis}-{rest}" if dash and len(digest) > 7 else entry
    if width is not None and len(short) > width:
        short = short[: max(len(digest[:7]) + len(ellipsis) + 1, width - len(ellipsis))] + ellipsis
    return short


def store_name(path: str | None) -> str:
    """The package a store path belongs to, without its hash: `/nix/store/abc-linux-6.6/bzImage` -> `linux-6.6`."""
    if not path:
        return "-"
    text = harmless(path)
    if "/nix/store/" not in text:
        return text.rsplit("/", 1)[-1]
    digest, _, name = text.split("/nix/store/", 1)[1].split("/", 1)[0].partition("-")
    return name or digest


def reboot_reason(current: SystemLink | None, booted: SystemLink | None, arrow: str = "→") -> str:
    """What the booted system runs that the current one would not: `kernel linux-6.6.63 → linux-6.12.4, initrd`."""
    if current is None or booted is None:
        return ""
    parts = []
    for attr, what in (("kernel", "kernel"), ("initrd", "initrd"), ("kernel_modules", "modules")):
        old, new = getattr(booted, attr), getattr(current, attr)
        if old is None or new is None or old == new:
            continue
        old_name, new_name = store_name(old), store_name(new)
        if old_name == new_name:  # the same version, built differently: the hashes tell them apart
            old_name, new_name = (short_store_path(p).split("-", 1)[0] for p in (old, new))
        parts.append(f"{what} {old_name} {arrow} {new_name}")
    return ", ".join(parts)


def cut(text: Text, width: int, ellipsis: str = "…") -> None:
    """Cut `text` (styles kept) to `width` cells, ending in `ellipsis` when something was cut (Rich's own overflow
    ellipsis is always `…`, which --ascii must not draw)."""
    if text.cell_len > width:
        text.truncate(max(0, width - len(ellipsis)))
        text.append(ellipsis)


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
    """One line per check, failures first; columns as wide as their longest entry, so the message fits 80 columns."""
    results = list(results)
    name_w = max((len(r.check) for r in results), default=0)
    kind_w = max((len(r.kind) for r in results), default=0)
    lines = []
    for r in results:
        mark = "PASS" if r.ok else "FAIL"
        tries = f"{r.attempts} attempts, " if r.attempts > 1 else ""
        lines.append(harmless(f"{mark}  {r.check:<{name_w}}  {r.kind:<{kind_w}}  {r.message}  "
                              f"({tries}{r.duration:.1f}s)"))
    return sorted(lines, key=lambda line: line.startswith("PASS"))


def _flags(g: GenerationInfo) -> list[str]:
    return [f for f, on in (("current", g.current), ("booted", g.booted), ("next-boot", g.default)) if on]


FLAGS_WIDTH = len("current booted next-boot")


def generation_lines(gens: Iterable[GenerationInfo]) -> list[str]:
    """The generations view: a header, then newest first. The flags come before the versions, so 80 columns show
    them whole: `   54  2026-11-25 04:48  current booted next-boot  6.6.63  25.11.20251120.8e27750`."""
    lines = [f"{'GEN':>5}  {'DATE':<16}  {'FLAGS':<{FLAGS_WIDTH}}  {'KERNEL':<8} NIXOS"]
    for g in sorted(gens, key=lambda g: g.number, reverse=True):
        date = g.date[:16].replace("T", " ")
        lines.append(harmless(f"{g.number:>5}  {date:<16}  {' '.join(_flags(g)):<{FLAGS_WIDTH}}  "
                              f"{g.kernel or '-':<8} {g.nixos_version}").rstrip())
    return lines


def compact_generation(g: GenerationInfo) -> str:
    """`  54 2026-11-25 6.6.63 current` for the narrow details panel (the generations view has every column).
    booted/next-boot on the current generation is the normal case: not repeated there."""
    flags = _flags(g)
    if g.current:
        flags = ["current"] + [f for f in flags if f not in ("current", "booted", "next-boot")]
    return harmless(" ".join([f"{g.number:>4}", g.date[:10], g.kernel or "-", *flags]))
