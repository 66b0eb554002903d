"""The CLI skeleton: --help/--version, unknown verbs, options before the verb. (What --help imports: see
tests/test_import_hygiene.py.)"""

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


def test_unknown_verb_is_a_usage_error() -> None:
    proc = run_cli("frobnicate")
    assert proc.returncode == 2
    assert "invalid choice" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_selected_verb_skips_option_values() -> None:
    assert cli_main._selected_verb(["--flake", "status", "hosts"]) == "hosts"
    assert cli_main._selected_verb(["--version"]) is None


def test_an_abbreviated_option_before_the_verb_still_reaches_the_verb() -> None:
    # `--fla` is argparse's abbreviation of --flake: its value is not the verb, `hosts` is.
    proc = run_cli("--fla", "/nonexistent-flake", "hosts")
    assert proc.returncode == 2
    assert proc.stderr.startswith("labtui: error: flake directory /nonexistent-flake does not exist")
