"""No committed file names a path of the machine labtui is built on (its work tree, its shared tools, root's home).

Such a path works only there: a test, a doc or a comment citing one breaks or misleads everywhere else. Cite files by
their path in the repository, and the shared tools as `../shared/...` (relative to the repository).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# An absolute path under one of the build machine's top-level directories (not `../shared/`, not `x/work/`).
MACHINE_PATH = re.compile(r"(?:^|[^A-Za-z0-9_.])/(?:work|farm|root)/")


def tracked_files() -> list[Path]:
    """The files git tracks (a CI checkout is a clone); every file but the venv's and git's outside a checkout."""
    try:
        out = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z"], capture_output=True, check=True,
                             timeout=60).stdout
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", ".venv", "__pycache__", "build"}
        return [p for p in REPO.rglob("*") if p.is_file() and not skip & set(p.relative_to(REPO).parts)]
    return [REPO / name for name in out.decode().split("\0") if name]


def test_no_committed_file_names_a_machine_path() -> None:
    found = []
    for path in tracked_files():
        try:
            data = path.read_bytes()
        except OSError:  # listed by git but deleted in the work tree
            continue
        if b"\0" in data:
            continue  # binary
        for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
            if MACHINE_PATH.search(line):
                found.append(f"{path.relative_to(REPO)}:{number}: {line.strip()[:120]}")
    assert not found, "machine paths in committed files (cite repository paths instead):\n" + "\n".join(found)
