"""Short, fixed-width renderings of status values for table cells (pure functions, no Textual)."""

from __future__ import annotations

import math

from labtui.ssh.api import HostState
from labtui.status.model import HostStatus
from labtui.tui.glyphs import Glyphs

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

# Deploy outcome -> (glyph attribute, short word, style).
OUTCOME_STYLE: dict[str, tuple[str, str, str]] = {
    "succeeded": ("done", "ok", "$success"),
    "dry_activated": ("dry", "dry", "$secondary"),
    "rolled_back": ("rolled_back", "rolled back", "$warning"),
    "failed": ("failed", "failed", "$error"),
    "not_deployed": ("queued", "skipped", "$text-muted"),
    "cancelled": ("cancelled", "cancelled", "$text-muted"),
}


def state_cell(g: Glyphs, state: HostState) -> tuple[str, str, str]:
    glyph_attr, word, style = STATE_STYLE.get(state, ("unknown", str(state), "$text-muted"))
    return getattr(g, glyph_attr), word, style


def outcome_cell(g: Glyphs, outcome: str | None) -> tuple[str, str, str]:
    if outcome is None:
        return "", "", ""
    glyph_attr, word, style = OUTCOME_STYLE.get(outcome, ("unknown", outcome, "$text-muted"))
    return getattr(g, glyph_attr), word, style


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
    name = path.rsplit("/", 1)[-1]
    digest, _, rest = name.partition("-")
    return f"{digest[:7]}-{rest}" if rest else name


def truncate(text: str, width: int, ellipsis: str = "…") -> str:
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: max(0, width - len(ellipsis))] + ellipsis
