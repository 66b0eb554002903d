"""`labtui deploy` on a real fixture flake: the inventory loader (real nix eval) feeding the deploy engine,
with the deploy-rs / nixos-rebuild emulators standing in for the real tools."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from labtui.runs.journal import Journal
from tests.deploy.emulated import emulated  # noqa: F401  (fixture)
from tests.support import require_tool

REPO = Path(__file__).resolve().parents[2]
FLEET = REPO / "tests" / "fixtures" / "flakes" / "fleet"


def test_deploy_hosts_of_a_real_flake(emulated):
    require_tool("nix", "the inventory is evaluated from the fixture flake")
    emulated.scenario({"web1": "success", "example.com": "activation-fails", "legacy": "success"})
    # --no-build-first: the fixture's systems are never to be evaluated (they throw); the emulators "build".
    proc = subprocess.run(
        [sys.executable, "-m", "labtui", "--flake", str(FLEET), "deploy", "web1.system", "example.com", "legacy",
         "--yes", "--no-build-first"], cwd=REPO, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    run = Journal.open().list_runs()[0]
    detail = Journal.open().get_run(run.run_id)
    # Dotted node names are quoted for deploy-rs; nixos-rebuild hosts get their own process.
    assert [f"{FLEET}#web1.system"] == [a for a in detail.argv[0] if "#" in a]
    assert [f'{FLEET}#"example.com"'] == [a for a in detail.argv[1] if "#" in a]
    assert detail.argv[2][:2] == ["nixos-rebuild", "switch"]
    assert {n.node: n.outcome for n in detail.nodes} == {
        "web1": "succeeded", "example.com": "rolled_back", "legacy": "succeeded"}
    assert detail.summary.revision is not None or detail.summary.dirty is not None
