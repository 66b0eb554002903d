"""Text from hosts made harmless before it reaches a terminal.

Anything a host sends (unit names, journal lines, command output, deploy output, error messages) may
carry control characters: `ESC [2J` clears the operator's screen, `ESC ] 52 ; c ; …` writes their
clipboard, a bare `CSI` (0x9b) does the same on 8-bit terminals, and bidi overrides reorder what they
read. Every face (CLI and TUI) passes remote text through `harmless` before showing it; `--json` keeps the
data as it came (JSON escapes control characters itself).

Control characters are shown escaped, Python style (`\\x1b`, `\\x9b`, `\\u202e`), so the operator still
sees that they were there. Tab is kept (it only moves the cursor right); newline is kept only where the
caller shows several lines at once.
"""

from __future__ import annotations


def _escape(code: int) -> str:
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


# C0 controls (but tab and newline, decided per call), DEL, C1 controls, and the bidirectional
# overrides and isolates that make text read differently from what it is ("trojan source").
_UNSAFE = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), 0x061C, 0x200E, 0x200F,
           *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_TABLE_ONE_LINE: dict[int, str] = {code: _escape(code) for code in _UNSAFE if code != 0x09}
_TABLE_LINES: dict[int, str] = {code: text for code, text in _TABLE_ONE_LINE.items() if code != 0x0A}


def harmless(text: str, *, keep_newlines: bool = False) -> str:
    """`text` with every control character escaped; safe to write to a terminal.

    `keep_newlines=True` for text shown as several lines (a log pane); otherwise a newline is escaped
    too, so one remote field stays one line on screen.
    """
    if text.isprintable():  # the common case, in C: nothing to escape
        return text
    return text.translate(_TABLE_LINES if keep_newlines else _TABLE_ONE_LINE)


def harmless_bytes(data: bytes, *, keep_newlines: bool = False) -> str:
    """Bytes from a host (binary output included) as harmless text: invalid UTF-8 shown as `\\xNN`."""
    return harmless(data.decode("utf-8", errors="backslashreplace"), keep_newlines=keep_newlines)


def is_harmless(text: str, *, keep_newlines: bool = False) -> bool:
    """True when `harmless(text)` would change nothing (for tests and assertions)."""
    return harmless(text, keep_newlines=keep_newlines) == text


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, saying how many more there were (a field from a host can be huge)."""
    if len(text) <= limit:
        return text
    return text[:limit] + truncation_note(len(text) - limit)


def truncation_note(more: int) -> str:
    """What replaces the cut-off rest of a field or line."""
    return f"\u2026 [{more} more characters truncated]"


def was_truncated(text: str) -> bool:
    """Whether `text` ends with a `truncation_note` (clip or LineCutter cut it)."""
    return text.endswith(" more characters truncated]")


class LineCutter:
    """Streamed text split into lines of at most `limit` characters (without their newline).

    A longer line is cut and ends with `truncation_note`; what is cut off is counted, never kept, so memory stays
    within `limit` whatever a host sends (64 MB without a newline, say). `feed` returns the lines it completed;
    `pending` is the line started but not ended yet (a prompt), `take_pending` returns and forgets it.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._parts: list[str] = []
        self._size = 0
        self._more = 0

    def feed(self, text: str) -> list[str]:
        lines: list[str] = []
        start = 0
        while True:
            end = text.find("\n", start)
            self._add(text[start:] if end < 0 else text[start:end])
            if end < 0:
                return lines
            lines.append(self.take_pending())
            start = end + 1

    @property
    def pending(self) -> str:
        return "".join(self._parts)

    @property
    def has_pending(self) -> bool:
        return self._size > 0 or self._more > 0

    def take_pending(self) -> str:
        line = "".join(self._parts) + (truncation_note(self._more) if self._more else "")
        self._parts, self._size, self._more = [], 0, 0
        return line

    def _add(self, piece: str) -> None:
        room = self.limit - self._size
        if len(piece) > room:
            self._more += len(piece) - max(room, 0)
            piece = piece[:max(room, 0)]
        if piece:
            self._parts.append(piece)
            self._size += len(piece)


__all__ = ["LineCutter", "clip", "harmless", "harmless_bytes", "is_harmless", "truncation_note", "was_truncated"]
