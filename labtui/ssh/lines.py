"""Bytes from a remote command cut into lines, with a bound on how long one line may grow.

A command that prints megabytes without a newline (a binary, `cat /dev/zero`) must not make labtui hold it
as one string: a line longer than `max_line` characters is handed over in pieces of that length.
"""

from __future__ import annotations

import codecs

MAX_LINE = 64 * 1024


class LineSplitter:
    """Feed bytes, get the complete lines (without `\\n`, a trailing `\\r` kept); `finish()` gives the rest."""

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self.max_line = max_line
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""

    def feed(self, data: bytes) -> list[str]:
        text = self._partial + self._decoder.decode(data)
        lines = text.split("\n")
        self._partial = lines.pop()
        while len(self._partial) > self.max_line:
            lines.append(self._partial[: self.max_line])
            self._partial = self._partial[self.max_line:]
        return [piece for line in lines for piece in self._cut(line)]

    def finish(self) -> list[str]:
        rest = self._partial + self._decoder.decode(b"", final=True)
        self._partial = ""
        return list(self._cut(rest)) if rest else []

    def _cut(self, line: str) -> list[str]:
        if len(line) <= self.max_line:
            return [line]
        return [line[i:i + self.max_line] for i in range(0, len(line), self.max_line)]
