"""labtui under a wrapper made like nixpkgs' (issue 13 point 1): the bare store Python plus
`site.addsitedir` inside the script, no PYTHONPATH. The detached supervisor must still import labtui."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from labtui import __version__
from labtui.runs.journal import Journal
from tests.deploy.emulated import emulated  # noqa: F401  (fixture)
from tests.packaging.nixpkgs_style import REPO, NixpkgsStyleInstall, make_install
from tests.support import require_tool

FLEET = REPO / "tests" / "fixtures" / "flakes" / "fleet"


@pytest.fixture
def nixpkgs_style(tmp_path: Path) -> NixpkgsStyleInstall:
    return make_install(tmp_path)


def test_the_store_python_alone_cannot_import_labtui(nixpkgs_style, tmp_path):
    """The premise: without the wrapper's addsitedir the interpreter knows no labtui (as on NixOS)."""
    proc = subprocess.run([str(nixpkgs_style.python), "-c", "import labtui"], cwd=tmp_path,
                          env=nixpkgs_style.env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "No module named 'labtui'" in proc.stderr


def test_the_wrapper_runs_the_installed_copy(nixpkgs_style, tmp_path):
    proc = subprocess.run([str(nixpkgs_style.labtui), "--version"], cwd=tmp_path, env=nixpkgs_style.env(),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"labtui {__version__}"


@pytest.mark.integration
def test_a_deploy_completes_under_a_nixpkgs_style_wrapper(nixpkgs_style, emulated, tmp_path):
    """A real flake (nix eval), the deploy-rs emulator on PATH, the supervisor started by the wrapped labtui."""
    require_tool("nix", "the fleet is evaluated from the fixture flake")
    emulated.scenario({"web1": "success"})
    proc = subprocess.run([str(nixpkgs_style.labtui), "--flake", str(FLEET), "deploy", "web1.system", "--yes",
                           "--no-probe"], cwd=tmp_path, env=nixpkgs_style.env(), capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "run succeeded" in proc.stdout
    run = Journal.open().list_runs()[0]
    assert run.outcome == "succeeded"
    assert {n.node: n.outcome for n in Journal.open().get_run(run.run_id).nodes} == {"web1": "succeeded"}
