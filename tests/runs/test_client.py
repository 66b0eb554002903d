"""How a face starts a supervisor: labtui's own entry point, with the face's import path handed over."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

import labtui
from labtui.runs.client import BOOTSTRAP, SUPERVISE_VERB, import_path, supervisor_command
from tests.deploy.emulated import emulated  # noqa: F401  (fixture)


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


def _bare_interpreter() -> str:
    """This venv's base interpreter: a Python that knows nothing of the venv (like nixpkgs' python3)."""
    if sys.prefix == sys.base_prefix:
        pytest.skip("needs a virtualenv: its base interpreter plays the bare system Python")
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (Path(sys.base_prefix) / "bin" / f"python{version}", Path(sys.base_prefix) / "bin" / "python3"):
        if candidate.exists():
            return str(candidate)
    pytest.skip("the virtualenv's base interpreter was not found")


def test_a_deploy_completes_under_a_nixpkgs_style_wrapper(emulated, tmp_path):
    """nixpkgs wraps `labtui` as a script run by its bare python3 that calls site.addsitedir on the
    package's dependencies and sets no PYTHONPATH: the detached supervisor must still import labtui."""
    repo = Path(__file__).resolve().parents[2]
    wrapper = tmp_path / "labtui-wrapped"
    wrapper.write_text(textwrap.dedent(f"""\
        import site, sys
        site.addsitedir({sysconfig.get_paths()["purelib"]!r})
        import labtui.cli.common as common
        # The test's fleet, built in Python instead of evaluated from a flake: the face alone sees `tests`.
        sys.path.insert(0, {str(repo)!r})
        from tests.deploy.cli_harness import make_inventory
        sys.path.remove({str(repo)!r})
        common.load_inventory = lambda args: make_inventory("web1")
        from labtui.cli.main import main
        sys.exit(main())
        """))
    emulated.scenario({"web1": "success"})
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    proc = subprocess.run([_bare_interpreter(), "-s", str(wrapper), "deploy", "web1", "--yes", "--no-probe"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "run succeeded" in proc.stdout
