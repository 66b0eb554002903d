"""How a face starts a supervisor: labtui's own entry point, with the face's import path handed over."""

from __future__ import annotations

import os
import subprocess
import sys

import labtui
from labtui.runs.client import BOOTSTRAP, SUPERVISE_VERB, import_path, supervisor_command


def test_the_supervisor_is_labtuis_entry_point_with_this_import_path():
    argv = supervisor_command("20260101-000000-abcd", 7)
    assert argv[:4] == [sys.executable, "-P", "-c", BOOTSTRAP]
    assert argv[4].split(os.pathsep) == import_path() and all(os.path.isabs(p) for p in import_path())
    assert argv[5:] == [SUPERVISE_VERB, "20260101-000000-abcd", "--ready-fd", "7"]


def test_it_imports_this_labtui_and_not_the_working_directorys(tmp_path):
    (tmp_path / "labtui").mkdir()
    (tmp_path / "labtui" / "__init__.py").write_text("raise SystemExit('wrong labtui')\n")
    argv = supervisor_command("x", 0)
    probe = argv[:3] + [BOOTSTRAP.replace("from labtui.cli.main import main\nsys.exit(main(sys.argv[2:]))\n",
                                          "import labtui\nprint(labtui.__file__)\n"), argv[4]]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(probe, cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == labtui.__file__


# A deploy under a nixpkgs-style wrapper: tests/packaging/test_nixpkgs_wrapper.py.
