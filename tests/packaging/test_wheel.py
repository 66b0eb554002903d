"""The wheel, built and installed the way a user does, outside the repository (issue 13 point 8).

`pip wheel . --no-deps` on a copy of the tracked files (pip builds in place: the checkout stays clean), a
fresh virtual environment elsewhere, `pip install` of the wheel with its dependencies from the package
index, then the installed `labtui`: --version, demo --help, the demo on a terminal quit with `q`. Needs
the package index (the dependencies, and setuptools for the isolated build); skipped without it, except
under CI=true.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
import venv
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from labtui import __version__
from tests.packaging.nixpkgs_style import REPO
from tests.packaging.pty_session import run_in_pty
from tests.support import in_ci

pytestmark = pytest.mark.integration

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def _tracked_copy(dest: Path) -> Path:
    """The files git knows or would take (tracked, or new and not ignored; outside git, the tree without build
    and cache output), copied to `dest`."""
    git = shutil.which("git")
    proc = subprocess.run([git, "-C", str(REPO), "ls-files", "-z", "--cached", "--others",
                                  "--exclude-standard"], capture_output=True, timeout=60) if git else None
    if proc is not None and proc.returncode == 0 and proc.stdout:
        for name in proc.stdout.decode().split("\0"):
            if name and (REPO / name).is_file():
                (dest / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / name, dest / name)
    else:
        shutil.copytree(REPO, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns(
            ".venv", ".git", "build", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis"))
    return dest


def _pip(python: Path | str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.run([str(python), "-m", "pip", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)
    if proc.returncode != 0:
        text = proc.stdout + proc.stderr
        offline = any(s in text for s in ("Could not find a version", "NewConnectionError", "Network is unreachable",
                                          "Temporary failure in name resolution", "No matching distribution"))
        if offline and not in_ci():
            pytest.skip(f"the package index is not reachable: {text.strip().splitlines()[-1]}")
        raise AssertionError(f"pip {' '.join(args)} failed:\n{text[-4000:]}")
    return proc


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    """The wheel (pip wheel, isolated build) and the sdist (setuptools' build_meta) of a copy of the tree."""
    root = tmp_path_factory.mktemp("build")
    source = _tracked_copy(root / "labtui-src")
    dist = root / "dist"
    _pip(sys.executable, "wheel", ".", "--no-deps", "--wheel-dir", str(dist), cwd=source)
    builder = root / "builder"
    venv.EnvBuilder(with_pip=True).create(builder)
    _pip(builder / "bin" / "python", "install", "--quiet", *PROJECT["build-system"]["requires"], cwd=root)
    subprocess.run([str(builder / "bin" / "python"), "-c",
                    f"from setuptools import build_meta; build_meta.build_sdist({str(dist)!r})"],
                   cwd=source, check=True, capture_output=True, timeout=300)
    (wheel,) = dist.glob("labtui-*.whl")
    (sdist,) = dist.glob("labtui-*.tar.gz")
    return {"wheel": wheel, "sdist": sdist}


def test_the_wheel_says_what_pyproject_says(built):
    with zipfile.ZipFile(built["wheel"]) as wheel:
        names = wheel.namelist()
        dist_info = f"labtui-{__version__}.dist-info"
        metadata = Parser().parsestr(wheel.read(f"{dist_info}/METADATA").decode())
        entry_points = wheel.read(f"{dist_info}/entry_points.txt").decode()
    assert metadata["License-Expression"] == "MIT"
    assert f"{dist_info}/licenses/LICENSE" in names
    assert metadata.get_all("License-File") == ["LICENSE"]
    assert not [c for c in metadata.get_all("Classifier") or [] if c.startswith("License ::")]
    requires = {str(Requirement(r)) for r in metadata.get_all("Requires-Dist") or []}
    assert {str(Requirement(r)) for r in PROJECT["project"]["dependencies"]} <= requires
    assert "labtui = labtui.cli.main:main" in entry_points
    assert "labtui/tui/app.tcss" in names and "labtui/status/probe.py" in names
    assert not [n for n in names if n.startswith("tests/")]


def test_the_sdist_renders_its_readme_offline(built):
    """Every picture and document the README links is in the sdist, so it renders there too."""
    import re

    with tarfile.open(built["sdist"]) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    links = re.findall(r"\]\(((?:screenshots|docs)/[^)#]+)", (REPO / "README.md").read_text())
    assert links and not [link for link in links if link not in names]
    assert "LICENSE" in names


def test_the_wheel_runs_in_a_clean_venv_outside_the_repository(built, tmp_path):
    home = tmp_path / "elsewhere"
    home.mkdir()
    env_dir = home / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    _pip(env_dir / "bin" / "python", "install", "--quiet", str(built["wheel"]), cwd=home)
    labtui = env_dir / "bin" / "labtui"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(labtui), *args], cwd=home, env=env, capture_output=True, text=True, timeout=120)

    version = run("--version")
    assert (version.returncode, version.stdout.strip()) == (0, f"labtui {__version__}"), version.stderr
    demo_help = run("demo", "--help")
    assert demo_help.returncode == 0 and "exit status:" in demo_help.stdout, demo_help.stderr
    where = subprocess.run([str(env_dir / "bin" / "python"), "-c", "import labtui; print(labtui.__file__)"],
                           cwd=home, env=env, capture_output=True, text=True, timeout=60)
    assert Path(where.stdout.strip()).is_relative_to(env_dir)  # the installed copy, not the checkout
    result = run_in_pty([str(labtui), "demo", "--no-ticker"], env=env, cwd=home, wait_for="grey-area", keys=b"q")
    assert result.returncode == 0, result.output[-2000:]
