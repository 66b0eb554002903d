"""The real Colmena (0.4.0, `../shared/colmena/bin/colmena`) for CLI-level tests: what argv it accepts, its help and
usage errors. Found on PATH (when it is the real one, not labtui's emulator) or beside the repository (`../shared`,
or beside one of its parents: a git worktree lives one level deeper), or where LABTUI_SHARED says. Tests skip without
it, except under CI=true, where they fail."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.support import in_ci, real_program

REPO = Path(__file__).resolve().parents[2]


def find_colmena() -> Path | None:
    given = os.environ.get("LABTUI_SHARED")
    shared = [Path(given)] if given else [parent / "shared" for parent in REPO.parents]
    return real_program([shutil.which("colmena"), *(str(s / "colmena" / "bin" / "colmena") for s in shared)],
                        "Colmena ")


@pytest.fixture(scope="session")
def real_colmena() -> Path:
    found = find_colmena()
    if found is None:
        message = "the real colmena is not available (../shared/colmena/bin/colmena or on PATH)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return found
