"""`labtui` (no verb) and `labtui demo` from the command line."""

from __future__ import annotations

from labtui.cli.main import main


def test_tui_needs_a_terminal(capsys, tmp_path):
    # pytest's stdout is not a terminal: one clear line, exit 2, before touching the flake.
    assert main(["--flake", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "needs a terminal" in err and "labtui status" in err


def test_demo_help_lists_its_options(capsys):
    try:
        main(["demo", "--help"])
    except SystemExit as exc:
        assert exc.code == 0
    out = capsys.readouterr().out
    for option in ("--ascii", "--hosts", "--reset", "--shell", "--dir"):
        assert option in out


def test_top_level_ascii_flag_is_accepted(capsys, tmp_path):
    assert main(["--ascii", "--flake", str(tmp_path)]) == 2  # still needs a terminal
