"""The CLI skeleton: fast --help/--version, unknown verbs, not-yet-available verbs."""

from __future__ import annotations

import subprocess
import sys

from labtui import __version__
from labtui.cli import main as cli_main


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labtui", *args], capture_output=True, text=True, timeout=60)


def test_version() -> None:
    proc = run_cli("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"labtui {__version__}"


def test_help_lists_every_verb() -> None:
    proc = run_cli("--help")
    assert proc.returncode == 0
    for verb in cli_main.VERBS:
        assert verb in proc.stdout


def test_help_and_version_import_neither_textual_nor_asyncssh() -> None:
    code = (
        "import sys, contextlib, io\n"
        "from labtui.cli.main import main\n"
        "for argv in (['--help'], ['--version']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n"
        "        try: main(argv)\n"
        "        except SystemExit: pass\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'asyncssh'))\n"
        "print(bad)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_unknown_verb_is_a_usage_error() -> None:
    proc = run_cli("frobnicate")
    assert proc.returncode == 2
    assert "invalid choice" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_selected_verb_skips_option_values() -> None:
    assert cli_main._selected_verb(["--flake", "status", "hosts"]) == "hosts"
    assert cli_main._selected_verb(["--version"]) is None
