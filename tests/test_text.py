"""labtui.text: remote text made harmless for a terminal (issue: terminal escape injection)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from labtui.text import harmless, harmless_bytes, is_harmless


def test_plain_text_is_unchanged() -> None:
    for text in ("nginx.service", "web1 ✔ 91%", "🚀 ℹ️ [deploy] [INFO] Building", "a\tb"):
        assert harmless(text) == text


def test_escape_sequences_are_shown_escaped() -> None:
    unit = "x\x1b[2J\x1b[H\x1b]52;c;QkFTRTY0\x07.service"
    assert harmless(unit) == "x\\x1b[2J\\x1b[H\\x1b]52;c;QkFTRTY0\\x07.service"


def test_c1_del_and_bidi_controls_are_escaped() -> None:
    assert harmless("a\x9b31mb\x7f") == "a\\x9b31mb\\x7f"
    assert harmless("admin\u202eexe.txt") == "admin\\u202eexe.txt"


def test_newlines_escaped_unless_kept() -> None:
    assert harmless("one\ntwo\r") == "one\\x0atwo\\x0d"
    assert harmless("one\ntwo\r", keep_newlines=True) == "one\ntwo\\x0d"


def test_binary_bytes() -> None:
    assert harmless_bytes(b"ok \xff\x1b[31m\n", keep_newlines=True) == "ok \\xff\\x1b[31m\n"


@given(st.text())
def test_result_never_holds_a_control_character(text: str) -> None:
    out = harmless(text)
    assert is_harmless(out)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in out if c != "\t")
