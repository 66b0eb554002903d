"""Fixtures for deploy tests against the deploy-rs / nixos-rebuild emulators (labtui.sim)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest


class Emulated:
    """Puts the emulators first on PATH and writes the scenario file they read."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        install_emulators = pytest.importorskip("labtui.sim.emulators").install_emulators

        self.bin_dir = Path(install_emulators(tmp_path / "bin"))
        self.path = tmp_path / "scenario.json"
        self.env_path = f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
        monkeypatch.setenv("PATH", self.env_path)
        monkeypatch.setenv("LABTUI_SIM_SCENARIO", str(self.path))
        monkeypatch.setenv("LABTUI_LATE_OUTPUT", "1")  # detached runs: orphans' late output for 1 s only

    def scenario(self, nodes: dict[str, str], *, time_scale: float = 0.01, top: dict | None = None,
                 **node_extra) -> Path:
        spec = {"time_scale": time_scale, **(top or {}),
                "nodes": {n: {"hostname": f"{n}.lab", "profiles": ["system"], "scenario": s, **node_extra}
                          for n, s in nodes.items()}}
        self.path.write_text(json.dumps(spec))
        return self.path


@pytest.fixture
def emulated(tmp_path, monkeypatch) -> Emulated:
    return Emulated(tmp_path, monkeypatch)
