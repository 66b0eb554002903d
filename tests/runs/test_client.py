"""How a face starts a supervisor: through labtui's own entry point, with its import path handed over."""

from __future__ import annotations

import os
import subprocess
import sys

from labtui.runs.client import SAVED_PYTHONPATH, import_path, restore_environment, supervisor_command


def test_supervisor_runs_labtui_with_this_import_path(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "/operator/own")
    argv, env = supervisor_command("20260101-000000-abcd", 7)
    assert argv == [sys.executable, "-P", "-m", "labtui", "_supervise", "20260101-000000-abcd", "--ready-fd", "7"]
    assert env["PYTHONPATH"].split(os.pathsep) == import_path()
    assert all(os.path.isabs(p) for p in import_path())
    assert env[SAVED_PYTHONPATH] == "/operator/own"


def test_the_supervisor_restores_the_operators_environment(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "/handed/over")
    monkeypatch.setenv(SAVED_PYTHONPATH, "/operator/own")
    restore_environment()
    assert os.environ["PYTHONPATH"] == "/operator/own" and SAVED_PYTHONPATH not in os.environ
    monkeypatch.setenv("PYTHONPATH", "/handed/over")
    restore_environment()  # the operator had none
    assert "PYTHONPATH" not in os.environ


def test_the_command_imports_this_labtui_without_the_working_directory(tmp_path):
    """A `labtui` directory in the working directory is not what the supervisor imports (`-P`)."""
    (tmp_path / "labtui").mkdir()
    (tmp_path / "labtui" / "__init__.py").write_text("raise SystemExit('wrong labtui')\n")
    argv, env = supervisor_command("x", 0)
    probe = [argv[0], "-P", "-c", "import labtui, sys; print(labtui.__file__)"]
    out = subprocess.run(probe, env=env, cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    import labtui

    assert out.strip() == labtui.__file__
