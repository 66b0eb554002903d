"""Terminal escape sequences out of program output, so parsers see the text a user reads.

deploy-rs colours the level word of every log record unconditionally (flexi_logger `style()`, no tty
check), nix and switch-to-configuration may add their own colours, and progress output uses `\\r`.
"""

from __future__ import annotations

import re

# CSI (colours, cursor movement, erase), OSC (titles, hyperlinks) ended by BEL or ST, and the
# two-character escapes.
_ANSI_RE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")


def strip_ansi(text: str) -> str:
    """`text` without escape sequences (fast path when there is no ESC at all)."""
    if "\x1b" not in text:
        return text
    return _ANSI_RE.sub("", text)


def clean_line(line: str) -> str:
    """One output line as it ends up on screen: no escapes, no line ending, and after a carriage
    return only what was drawn last (progress lines redraw themselves with `\\r`)."""
    if "\x1b" in line:
        line = _ANSI_RE.sub("", line)
    line = line.rstrip("\r\n")
    if "\r" in line:
        parts = [p for p in line.split("\r") if p.strip()]
        line = parts[-1] if parts else ""
    return line
