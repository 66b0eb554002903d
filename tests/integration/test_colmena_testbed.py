"""A Colmena hive deployed by `labtui deploy` through the real Colmena 0.4.0 to testbed hosts.

The hive is a flake whose nodes are the testbed's hosts (`deployment.targetHost = "hostN-lo"`, reached through the
testbed's ssh_config, which Colmena takes from SSH_CONFIG_FILE); nixpkgs is the tests' stand-in
(tests/fixtures/nixpkgs-standin), which Colmena's own eval.nix accepts, and each node's `system.build.toplevel` is a
testbed system (its switch-to-configuration is the testbed's stub). So everything from labtui's reading of the hive to
Colmena's evaluation, build, `nix copy` to `ssh-ng://`, `nix-env --set` and switch is real; outcomes are checked
against each host's real state (read inside its namespaces)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.integration.test_deploy_rs_testbed import events_of, results
from tests.support.colmena import real_colmena  # noqa: F401  (fixture)
from tests.support.testbed import REPO

pytestmark = [pytest.mark.integration, pytest.mark.testbed]

STANDIN = REPO / "tests" / "fixtures" / "nixpkgs-standin"
HIVE = """{
  outputs = { self }: let tag = import ./tag.nix; in {
    colmena = {
      meta.nixpkgs = import ./nixpkgs { system = "x86_64-linux"; };
      defaults = { name, ... }: {
        deployment.targetHost = "${name}-lo";
        deployment.tags = [ "testbed" ];
        system.build.toplevel = import ./system.nix {
          hostname = name; generation = tag; version = "24.11.20241201.c0ffee0"; };
      };
      @NODES@
    };
  };
}
"""


class Hive:
    def __init__(self, path: Path, testbed, colmena: Path) -> None:
        self.path = path
        self.testbed = testbed
        self.colmena = colmena

    def configure(self) -> str:
        """A new tag, committed: every node gets a new system path (a new generation when deployed)."""
        tag = "c-" + uuid.uuid4().hex[:10]
        (self.path / "tag.nix").write_text(f'"{tag}"\n')
        subprocess.run(["git", "-C", str(self.path), "add", "-A"], check=True)
        subprocess.run(["git", "-C", str(self.path), "-c", "user.email=t@localhost", "-c", "user.name=t", "commit",
                        "-qm", tag], check=True)
        return tag

    def labtui(self, *args: str, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
        env = self.testbed.env()
        env["PATH"] = os.pathsep.join([str(self.colmena.parent), env["PATH"]])
        env["SSH_CONFIG_FILE"] = str(self.testbed.dir / "ssh_config")
        env.pop("RUST_BACKTRACE", None)
        return subprocess.run([sys.executable, "-m", "labtui", "--flake", str(self.path), *args], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=timeout, input="")


@pytest.fixture(scope="module")
def hive_module(testbed_session, real_colmena, tmp_path_factory):
    """One hive for the module; the hosts go back to deploy-rs profiles once, at its end."""
    testbed = testbed_session
    path = tmp_path_factory.mktemp("colmena") / "hive"
    path.mkdir()
    shutil.copytree(STANDIN, path / "nixpkgs")
    for name in ("system.nix", "system-builder.sh", "stubs"):  # the session flake's copies of the testbed's files
        source = testbed.flake.path / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, path / name)
    (path / "flake.nix").write_text(HIVE.replace("@NODES@", " ".join(f"{h} = {{ }};" for h in testbed.hosts)))
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    bed = Hive(path, testbed, real_colmena)
    bed.configure()
    try:
        yield bed
    finally:
        testbed.reset()  # no fault left armed (a failing switch would fail the re-deploy below)
        testbed.prime()  # back to deploy-rs profiles for the other testbed tests


@pytest.fixture
def hive(testbed, hive_module):
    """The module's hive, with the testbed's faults undone before and after each test (the `testbed` fixture)."""
    return hive_module


def test_the_hive_is_the_inventory(hive):
    import json

    proc = hive.labtui("hosts", "--json")
    assert proc.returncode == 0, proc.stderr
    hosts = {h["name"]: h for h in json.loads(proc.stdout)["hosts"]}
    assert sorted(hosts) == hive.testbed.hosts
    host1 = hosts["host1"]
    assert host1["method"]["value"] == "colmena" and host1["hostname"]["value"] == "host1-lo"
    assert host1["tags"]["value"] == ["testbed"] and host1["ssh"]["user"]["value"] == "root"


def test_status_and_ops_reach_the_hive_as_colmena_does(hive):
    """labtui's own SSH reaches a hive's hosts the way `colmena apply` does (deployment.targetHost, through the
    ssh_config SSH_CONFIG_FILE names), and `@tag` selects by the hive's deployment.tags."""
    import json

    testbed = hive.testbed
    proc = hive.labtui("status", "--json")
    assert proc.stdout.strip(), proc.stderr
    hosts = {h["host"]: h for h in json.loads(proc.stdout)["hosts"]}
    for name in testbed.hosts:
        assert hosts[name]["ok"], hosts[name]["error"]
        assert hosts[name]["hostname"] == name  # each answered from inside its own namespaces
        assert hosts[name]["current_system"]["path"] == testbed.state(name).current_system
    proc = hive.labtui("exec", "@testbed", "--json", "--", "hostname")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert {h["host"]: h["stdout"] for h in json.loads(proc.stdout)["hosts"]} == {h: f"{h}\n" for h in testbed.hosts}


def test_deploy_through_colmena_moves_the_host(hive):
    testbed = hive.testbed
    hive.configure()
    before = testbed.state("host1")
    proc = hive.labtui("deploy", f"{hive.path}#host1", "--yes", "--json")  # deploy-rs's syntax, the same flake
    after = testbed.state("host1")
    events = events_of(proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert results(events)["host1"]["outcome"] == "succeeded"
    assert after.generation == before.next_generation and after.current_system == after.path != before.current_system
    started = next(e for e in events if e["event"] == "run_started")
    argv = started["argv"][0] if isinstance(started["argv"][0], list) else started["argv"]
    assert started["method"] == "colmena" and argv[1:5] == ["apply", "--on", "host1", "switch"]
    stages = [e["stage"] for e in events if e["event"] == "stage"]
    assert stages == ["eval", "build", "push", "activate"]


def test_a_failing_switch_is_failed_and_stays_on_the_new_generation(hive):
    testbed = hive.testbed
    hive.configure()
    before = testbed.state("host2")
    testbed.fault("host2", "fail-switch", "4")
    proc = hive.labtui("deploy", "host2", "--yes", "--json")
    after = testbed.state("host2")
    result = results(events_of(proc.stdout))["host2"]
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert (result["outcome"], result["stage"]) == ("failed", "activate")
    assert "colmena does not roll back" in result["message"]
    # the truth: the profile moved (nix-env --set ran before the switch), the running system did not
    assert after.generation == before.next_generation and after.current_system == before.current_system


def test_boot_and_dry_activate(hive):
    testbed = hive.testbed
    hive.configure()
    before = testbed.state("host3")
    proc = hive.labtui("deploy", "host3", "--boot", "--yes", "--json")
    after = testbed.state("host3")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert after.generation == before.next_generation and after.current_system == before.current_system
    proc = hive.labtui("deploy", "host3", "--dry-activate", "--yes", "--json")
    assert proc.returncode == 0 and results(events_of(proc.stdout))["host3"]["outcome"] == "dry_activated"
    assert testbed.state("host3").generation == after.generation
