"""Sizes for people: `48 MiB`, `+12.3 KiB`, `-1.2 GiB` (binary units, like Nix)."""

from __future__ import annotations

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def human_size(n: int, *, signed: bool = False) -> str:
    """`n` bytes in the largest unit under 1024, one decimal below 100 (`12.3 KiB`, `480 MiB`); `signed`
    writes `+` for growth (and `±0 B` for none)."""
    sign = "-" if n < 0 else ("+" if signed and n > 0 else "")
    value = float(abs(n))
    unit = _UNITS[0]
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            break
        value /= 1024
    if signed and n == 0:
        return "±0 B"
    if unit == "B":
        return f"{sign}{int(value)} B"
    text = f"{value:.0f}" if value >= 100 else f"{value:.1f}".removesuffix(".0")
    return f"{sign}{text} {unit}"
