"""labtui installed the way nixpkgs installs a Python application, built here without Nix.

nixpkgs' `buildPythonApplication` puts the package in its own store path and wraps the console script
twice (nixpkgs' `wrapPythonPrograms`):

- `bin/.labtui-wrapped`: the console script with the store's Python as its shebang and, as its first line
  of code, `functools.reduce(lambda k, p: site.addsitedir(p, k), [<site-packages of labtui and of every
  dependency>], site._init_pathinfo())`; no PYTHONPATH is set anywhere;
- `bin/labtui`: a shell script (makeWrapper) that exports PYTHONNOUSERSITE, applies makeWrapperArgs (our
  PATH suffix) and `exec -a "$0"`s the first one.

Here: the "store Python" is a fresh virtual environment with nothing installed (nixpkgs' python3 has an
empty site-packages), labtui's store path is a plain copy of the package (no editable finder, no checkout
on the path), and the dependencies' store path is this test venv's site-packages without labtui in it.
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
import venv
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PYTHON_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
SITE = f"lib/python{PYTHON_VERSION}/site-packages"

# The console script pip (and so nixpkgs) writes for `labtui = "labtui.cli.main:main"`.
CONSOLE_SCRIPT = """\
import re
import sys
from labtui.cli.main import main
if __name__ == '__main__':
    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])
    sys.exit(main())
"""


@dataclass(frozen=True)
class NixpkgsStyleInstall:
    labtui: Path  # bin/labtui, the shell wrapper a user runs
    python: Path  # the bare interpreter
    site_dirs: tuple[Path, ...]

    def env(self) -> dict[str, str]:
        """This environment without anything that would point Python at a path (as a NixOS user's)."""
        drop = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSAFEPATH"}
        return {k: v for k, v in os.environ.items() if k not in drop}


def _is_labtui(name: str) -> bool:
    return name == "labtui" or name.startswith(("labtui-", "__editable__", "__editable___labtui"))


def make_install(root: Path, *, path_suffix: str = "") -> NixpkgsStyleInstall:
    store = root / "nix" / "store"
    python_dir = store / f"00000000000000000000000000000000-python3-{PYTHON_VERSION}"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(python_dir)
    python = python_dir / "bin" / f"python{PYTHON_VERSION}"

    out = store / "11111111111111111111111111111111-labtui"
    labtui_site = out / SITE
    shutil.copytree(REPO / "labtui", labtui_site / "labtui", ignore=shutil.ignore_patterns("__pycache__"))

    deps_site = store / "22222222222222222222222222222222-labtui-dependencies" / SITE
    deps_site.mkdir(parents=True)
    purelib = Path(sysconfig.get_paths()["purelib"])
    for entry in purelib.iterdir():
        if not _is_labtui(entry.name):
            (deps_site / entry.name).symlink_to(entry)

    site_dirs = (labtui_site, deps_site)
    bin_dir = out / "bin"
    bin_dir.mkdir()
    wrapped = bin_dir / ".labtui-wrapped"
    sitedir_list = ",".join(f"'{d}'" for d in site_dirs)
    wrapped.write_text(
        f"#!{python}\n"
        "# -*- coding: utf-8 -*-\n"
        f"import sys;import site;import functools;sys.argv[0] = '{bin_dir / 'labtui'}';"
        f"functools.reduce(lambda k, p: site.addsitedir(p, k), [{sitedir_list}], site._init_pathinfo());\n"
        + CONSOLE_SCRIPT)
    wrapped.chmod(0o755)
    wrapper = bin_dir / "labtui"
    suffix = f'export PATH="$PATH:{path_suffix}"\n' if path_suffix else ""
    wrapper.write_text(f"#! {shutil.which('bash') or '/bin/bash'} -e\n"
                       "export PYTHONNOUSERSITE='true'\n"
                       f"{suffix}"
                       f'exec -a "$0" "{wrapped}"  "$@"\n')
    wrapper.chmod(0o755)
    return NixpkgsStyleInstall(labtui=wrapper, python=python, site_dirs=site_dirs)
