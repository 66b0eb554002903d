"""Run `labtui` as a separate process over an inventory built in Python (the fault tests' operators).

    LABTUI_TEST_INVENTORY=inventory.pickle python -m tests.faults.cli_process status --watch --json

`write_inventory(path, inventory)` pickles an `Inventory` (hosts pointing at a real sshd, a relay, the testbed);
this module loads it in place of `nix eval`, so a test drives the real CLI in its own process (and its own
XDG dirs: a second operator is a second environment) without a flake.
"""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

from labtui.inventory.model import Inventory

ENV = "LABTUI_TEST_INVENTORY"


def write_inventory(path: Path, inventory: Inventory) -> Path:
    path.write_bytes(pickle.dumps(inventory))
    return path


def command(*argv: str) -> list[str]:
    """The argv that runs labtui through this harness (cwd: the repository)."""
    return [sys.executable, "-m", "tests.faults.cli_process", *argv]


def main() -> int:
    import labtui.cli.common as common
    from labtui.cli.main import main as labtui_main

    with open(os.environ[ENV], "rb") as f:
        inventory = pickle.load(f)
    common.load_inventory = lambda args: inventory
    return labtui_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
