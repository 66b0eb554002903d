"""The core never loads Textual: every module of labtui/ outside the faces (labtui.tui, labtui.cli) is imported in a
fresh interpreter, and Textual (and Rich, which only Textual brings) must not be among the loaded modules. The
import-linter contract in pyproject.toml says the same about the import graph; this checks what really happens at
run time, including imports done inside functions at import time or by third-party packages.

The CLI's entry point is held to more: `labtui --help`, `--version` and `labtui VERB --help` load neither Textual nor
asyncssh, so they stay fast.

One helper interpreter imports nothing but os and sys, then forks a child per module: each child starts from that
pristine state and reports what it loaded. That keeps the whole file to about a second for ~80 modules.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import labtui
from labtui.cli.main import VERBS

PACKAGE_DIR = Path(labtui.__file__).parent
FACES = ("labtui.tui", "labtui.cli")
GUI_PACKAGES = ("textual", "rich")

# Reads its work from stdin: one item a line, either a module to import or `main <argv...>` to run the CLI's entry
# point with that argv. Prints `item<TAB>ok<TAB>pkg,pkg` (the top-level packages of interest that got loaded) or
# `item<TAB>error<TAB>message`.
_FORK_SERVER = r"""
import os, sys
watched = set(sys.argv[1].split(","))
for item in sys.stdin.read().splitlines():
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            if item.startswith("main "):
                import contextlib, io
                from labtui.cli.main import main
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                    try:
                        main(item.split()[1:])
                    except SystemExit:
                        pass
            else:
                __import__(item)
            loaded = sorted({m.split(".")[0] for m in sys.modules} & watched)
            answer = "ok\t" + ",".join(loaded)
        except BaseException as exc:
            answer = "error\t" + " ".join(f"{type(exc).__name__}: {exc}".split())
        os.write(w, answer.encode())
        os._exit(0)
    os.close(w)
    chunks = []
    while chunk := os.read(r, 65536):
        chunks.append(chunk)
    os.close(r)
    os.waitpid(pid, 0)
    print(item + "\t" + b"".join(chunks).decode(), flush=True)
"""


def core_modules() -> list[str]:
    """Every module of the package but the faces and `python -m labtui` (which is the CLI), found on disk."""
    names = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        name = ".".join(parts)
        if name == "labtui.__main__" or any(name == face or name.startswith(face + ".") for face in FACES):
            continue
        names.append(name)
    return names


CORE_MODULES = core_modules()
CLI_CALLS = ["main --help", "main --version", *(f"main {verb} --help" for verb in VERBS)]


def _run_fork_server(items: list[str], watched: tuple[str, ...]) -> dict[str, tuple[str, str]]:
    proc = subprocess.run([sys.executable, "-c", _FORK_SERVER, ",".join(watched)], input="\n".join(items),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    answers = {}
    for line in proc.stdout.splitlines():
        item, status, detail = line.split("\t", 2)
        answers[item] = (status, detail)
    return answers


@pytest.fixture(scope="module")
def core_imports() -> dict[str, tuple[str, str]]:
    return _run_fork_server(CORE_MODULES, GUI_PACKAGES)


@pytest.fixture(scope="module")
def cli_imports() -> dict[str, tuple[str, str]]:
    return _run_fork_server(CLI_CALLS, (*GUI_PACKAGES, "asyncssh"))


def test_the_core_is_discovered_not_listed() -> None:
    # A sanity check on the discovery: the layers are there, the faces are not.
    for package in ("labtui.inventory", "labtui.ssh", "labtui.status", "labtui.runs", "labtui.deploy", "labtui.ops",
                    "labtui.sim", "labtui.demo", "labtui.errors"):
        assert package in CORE_MODULES
    assert not [m for m in CORE_MODULES if m.startswith(FACES)]
    assert len(CORE_MODULES) > 50


@pytest.mark.parametrize("module", CORE_MODULES)
def test_core_module_does_not_load_textual(module: str, core_imports: dict[str, tuple[str, str]]) -> None:
    status, detail = core_imports[module]
    assert status == "ok", f"importing {module} failed: {detail}"
    assert detail == "", f"importing {module} loaded {detail}: the core must not depend on the TUI stack"


@pytest.mark.parametrize("call", CLI_CALLS)
def test_cli_help_and_version_load_neither_textual_nor_asyncssh(call: str,
                                                               cli_imports: dict[str, tuple[str, str]]) -> None:
    status, detail = cli_imports[call]
    assert status == "ok", f"`labtui {call.removeprefix('main ')}` failed: {detail}"
    assert detail == "", f"`labtui {call.removeprefix('main ')}` loaded {detail}"
