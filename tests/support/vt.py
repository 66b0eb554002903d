"""A minimal terminal screen: enough of VT100/xterm to replay what Textual writes (cursor moves, SGR,
text with double-width characters, newlines). Hand-written for the tests; everything else is ignored."""

from __future__ import annotations

import re

from rich.cells import get_character_cell_size

_ESCAPE = re.compile(r"\x1b\[([0-9;?<>$]*)([A-Za-z])|\x1b\][^\x1b\x07]*(?:\x1b\\|\x07)|\x1b[=>()][0-9A-Za-z]?")


class Screen:
    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.cells: list[list[tuple[str, str]]] = [[(" ", "")] * width for _ in range(height)]
        self.x = self.y = 0
        self.sgr = ""
        self._carry = ""  # an escape sequence cut at the end of the last chunk

    def feed(self, data: str) -> None:
        data, self._carry = self._carry + data, ""
        cut = data.rfind("\x1b")
        if cut >= 0:
            match = _ESCAPE.match(data, cut)
            if match is None or match.end() == len(data) and data[-1] in "0123456789;?<>$[":
                data, self._carry = data[:cut], data[cut:]
        pos = 0
        for match in _ESCAPE.finditer(data):
            self._text(data[pos:match.start()])
            pos = match.end()
            params, final = match.group(1), match.group(2)
            if final == "H" and params is not None and "?" not in params:
                parts = [int(p) if p else 1 for p in params.split(";")] if params else [1, 1]
                self.y, self.x = parts[0] - 1, (parts[1] - 1 if len(parts) > 1 else 0)
            elif final == "m" and params is not None:
                self.sgr = "" if params in ("", "0") else params
        self._text(data[pos:])

    def _text(self, text: str) -> None:
        for ch in text:
            if ch == "\n":
                self.y += 1
                continue
            if ch == "\r":
                self.x = 0
                continue
            size = get_character_cell_size(ch)
            if size == 0 or not 0 <= self.y < self.height:
                continue
            if self.x + size <= self.width:
                row, end = self.cells[self.y], self.x + size
                # Overwriting half of a double-width character blanks its other half.
                if self.x > 0 and row[self.x][0] == "":
                    row[self.x - 1] = (" ", "")
                if end < self.width and row[end][0] == "":
                    row[end] = (" ", "")
                self.cells[self.y][self.x] = (ch, self.sgr)
                if size == 2:
                    self.cells[self.y][self.x + 1] = ("", self.sgr)
            self.x += size

    def text(self) -> list[str]:
        return ["".join(ch for ch, _ in row) for row in self.cells]

    def shows(self, text: str) -> bool:
        return any(text in line for line in self.text())
