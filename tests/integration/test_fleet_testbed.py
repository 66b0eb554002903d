"""Issue 14 on the testbed with the real deploy-rs: closure diffs before the switch, labtui's own build with
progress, health-gated waves and fleet exec, each checked against the hosts' real state.

The session's flake gets fake packages (tests/support/fleet_flake.py) so that generations differ in what they
contain: versions move, packages come and go, the kernel changes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.fleet_flake import FleetFlake, FleetSettings, extend_flake

pytestmark = [pytest.mark.integration, pytest.mark.testbed]

V1 = {"nginx": "1.26.2", "openssl": "3.0.15", "htop": "3.3.0"}
V2 = {"nginx": "1.27.0", "openssl": "3.0.15", "curl": "8.10.1"}


_WRITTEN: dict[Path, FleetFlake] = {}


def write(testbed, settings: FleetSettings) -> None:
    """New settings for the session's flake (extended once with the fake packages); what they build is deleted
    after the test (the `cleanup` fixture): builds that never became a host's generation are not the session's."""
    extend_flake(testbed.flake.path)
    flake = _WRITTEN.setdefault(testbed.flake.path, FleetFlake(testbed.flake.path, len(testbed.hosts)))
    flake.write(settings)


@pytest.fixture(autouse=True)
def cleanup():
    yield
    for flake in _WRITTEN.values():
        flake.cleanup()
        flake.outputs.clear()


def json_of(proc: subprocess.CompletedProcess[str]) -> dict:
    assert proc.stdout.strip(), proc.stderr
    return json.loads(proc.stdout)


def test_diff_before_the_switch_then_unchanged_after_it(testbed, tmp_path: Path):
    import uuid

    tag = uuid.uuid4().hex[:8]
    write(testbed, FleetSettings(tag=f"d1-{tag}", packages=V1))
    deployed = testbed.labtui("deploy", "host1", "--yes", "--skip-checks", "--json")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    write(testbed, FleetSettings(tag=f"d2-{tag}", packages=V2, kernel="6.6.62", nixos_version="25.05.20250101.1234567"))

    proc = testbed.labtui("diff", "host1", "--json")
    data = json_of(proc)
    assert proc.returncode == 0, proc.stderr
    (host1,) = data["hosts"]
    assert host1["ok"] and not host1["unchanged"]
    assert host1["current"] == testbed.state("host1").current_system
    changed = {c["name"]: (c["old"], c["new"]) for c in host1["changed"]}
    assert changed["nginx"] == (["1.26.2"], ["1.27.0"])
    assert changed["linux"] == (["6.6.61"], ["6.6.62"])
    assert changed["nixos-system-host1"] == (["24.11.20241201.9abcdef"], ["25.05.20250101.1234567"])
    assert [c["name"] for c in host1["added"]] == ["curl"] and [c["name"] for c in host1["removed"]] == ["htop"]
    assert host1["reboot"] and "kernel" in host1["boot_changes"]
    assert host1["kernel"]["before"] == "6.6.61" and host1["kernel"]["after"] == "6.6.62"
    assert host1["nixos_version"] == {"before": "24.11.20241201.9abcdef", "after": "25.05.20250101.1234567"}
    assert host1["copy"]["paths"] >= 4 and host1["copy"]["size"] > 0  # curl, nginx, linux, the system, ...
    # The closure size before the switch is the host's own: its store's NAR sizes of the closure of the system it
    # runs (inside deploy-rs's activatable wrapper: system against system, deploy-rs's glue left out).
    running = testbed.in_host("host1", "readlink -f /run/current-system").strip()
    inside = [r for r in testbed.in_host("host1", f"nix-store -q --references {running}").split()
              if r.split("-", 1)[1].startswith("nixos-system-host1-")]
    system = inside[0] if "-activatable-" in running else running
    sizes = testbed.in_host("host1", f"nix-store -q --size $(nix-store -qR {system})")
    assert host1["closure_size"]["before"] == sum(int(n) for n in sizes.split())
    assert host1["summary"].startswith("+1 -1 ~") and ", reboot" in host1["summary"]

    text = testbed.labtui("diff", "host1")
    assert "nginx" in text.stdout and "1.26.2 → 1.27.0" in text.stdout and "reboot needed" in text.stdout

    deployed = testbed.labtui("deploy", "host1", "--yes", "--skip-checks", "--json")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    again = json_of(testbed.labtui("diff", "host1", "--json"))
    assert again["hosts"][0]["unchanged"] and again["hosts"][0]["summary"] == "unchanged"


def test_one_build_for_many_hosts_with_progress_and_a_failing_one(testbed):
    import uuid

    tag = uuid.uuid4().hex[:8]
    write(testbed, FleetSettings(tag=f"b-{tag}", packages=V2, build_lines=3, fail_build=["host3"],
                                 size=5000 + int(tag, 16) % 1000))
    before = {h: testbed.state(h) for h in testbed.hosts}
    proc = testbed.labtui("deploy", "host1", "host2", "host3", "--yes", "--skip-checks", "--json")
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    finals = {e["node"]: e for e in events if e["event"] == "build_progress" and e["done"]}
    assert finals["host1"]["built"] == finals["host1"]["to_build"] > 0 and not finals["host1"]["failed"]
    (failed,) = finals["host3"]["failed"]
    assert failed["name"].startswith("activatable-nixos-system-host3") and failed["tail"][-1].startswith(
        "testbed: intentional build failure")
    results = {e["node"]: e for e in events if e["event"] == "node_result"}
    assert results["host1"]["outcome"] == results["host2"]["outcome"] == "succeeded"
    assert (results["host3"]["outcome"], results["host3"]["stage"]) == ("not_deployed", "build")
    assert "intentional build failure" in results["host3"]["message"]
    assert testbed.state("host1").generation == before["host1"].next_generation
    assert testbed.state("host3").generation == before["host3"].generation  # untouched
    lines = [e["line"] for e in events if e["event"] == "output" and e.get("source") == "build"]
    assert any(line.endswith("> compiling unit 3 of 3") for line in lines)


def test_labtui_builds_first_for_nixos_rebuild_too(testbed):
    """The same build step before nixos-rebuild (nixosConfigurations.HOST.config.system.build.toplevel): progress
    while it builds, then nixos-rebuild finds the system built and switches the host to it."""
    import uuid

    tag = uuid.uuid4().hex[:8]
    write(testbed, FleetSettings(tag=f"n-{tag}", packages=V2, build_lines=2))
    before = testbed.state("host2")
    proc = testbed.labtui("deploy", "host2", "--method", "nixos-rebuild", "--yes", "--skip-checks", "--json")
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    progress = [e for e in events if e["event"] == "build_progress" and e["node"] == "host2"]
    assert progress and progress[-1]["done"] and progress[-1]["built"] == progress[-1]["to_build"] > 0
    rebuild = [e["line"] for e in events if e["event"] == "output" and e.get("source") != "build"]
    assert rebuild and not [line for line in rebuild if "building '" in line and "nixos-system-host2" in line]
    after = testbed.state("host2")
    assert after.generation == before.next_generation and after.current_system != before.current_system
    assert "-nixos-system-host2-" in after.current_system


def test_deploy_diff_shows_changes_skips_unchanged_hosts_and_asks(testbed):
    import uuid

    tag = uuid.uuid4().hex[:8]
    write(testbed, FleetSettings(tag=f"u1-{tag}", packages=V1))
    first = testbed.labtui("deploy", "host1", "host2", "--yes", "--skip-checks")
    assert first.returncode == 0, first.stdout + first.stderr
    # Only host2's system changes: it gets one more package.
    write(testbed, FleetSettings(tag=f"u1-{tag}", packages=V1, host_packages={"host2": {"jq": "1.7.1"}}))
    before = {h: testbed.state(h).generation for h in ("host1", "host2")}

    declined = testbed.labtui("deploy", "host1", "host2", "--diff", "--skip-checks", input="no\n")
    # jq is new; the system is rebuilt with the same version: not a package change (as in nvd).
    assert "host1: unchanged" in declined.stdout and "host2: +1 -0 ~0" in declined.stdout
    assert "[A] jq" in declined.stdout and "not deploying" in declined.stderr
    assert {h: testbed.state(h).generation for h in before} == before

    proc = testbed.labtui("deploy", "host1", "host2", "--diff", "--skip-checks", input="yes\n")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "skipping host1: already running what the flake would deploy" in proc.stderr
    assert testbed.state("host1").generation == before["host1"]
    assert testbed.state("host2").generation == before["host2"] + 1


def test_waves_stop_at_an_unhealthy_wave_and_roll_it_back(testbed, tmp_path):
    import uuid

    config = tmp_path / "labtui.toml"
    config.write_text('[[defaults.checks]]\nkind = "command"\nname = "ready"\n'
                      'command = "test ! -e /run/testbed/unhealthy"\nretries = 0\ntimeout = 10\n')
    unhealthy = testbed.dir / "host2" / "state" / "unhealthy"
    write(testbed, FleetSettings(tag=f"w-{uuid.uuid4().hex[:8]}", packages=V2))
    before = {h: testbed.state(h) for h in testbed.hosts}
    unhealthy.write_text("")
    try:
        proc = testbed.labtui("--config", str(config), "deploy", "host1", "host2", "host3", "--waves", "1,2,100%",
                              "--health-gate", "rollback", "--yes", "--skip-checks", "--json")
    finally:
        unhealthy.unlink(missing_ok=True)
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert events[0]["event"] == "run_started" and events[0]["waves"] == [["host1"], ["host2"], ["host3"]]
    assert [(e["wave"], e["ok"]) for e in events if e["event"] == "wave_result"] == [(1, True), (2, False)]
    results = {e["node"]: e for e in events if e["event"] == "node_result"}
    assert results["host1"]["outcome"] == "succeeded"
    assert results["host2"]["outcome"] == "rolled_back" and "ready" in results["host2"]["message"]
    assert results["host3"]["outcome"] == "not_deployed"
    testbed.settle()
    after = {h: testbed.state(h) for h in testbed.hosts}
    assert after["host1"].generation == before["host1"].next_generation  # wave 1 stays deployed
    assert after["host2"].current_system == before["host2"].current_system  # back where it was
    assert after["host2"].path == before["host2"].path
    assert after["host3"] == before["host3"]  # never touched
    run_id = events[0]["run_id"]
    shown = json.loads(testbed.labtui("history", "show", run_id, "--json").stdout)
    assert shown["waves"] == [["host1"], ["host2"], ["host3"]]
    assert {n["node"]: n["wave"] for n in shown["node_details"]} == {"host1": 1, "host2": 2, "host3": 3}


def test_a_unit_the_new_system_breaks_stops_the_waves_without_any_configured_check(testbed):
    """The failed-units delta is a gate of its own: host1's new system breaks a unit when it is switched to (no
    health check in any labtui.toml), so wave 1 fails, host1 goes back and host2 is never touched."""
    import uuid

    write(testbed, FleetSettings(tag=f"f-{uuid.uuid4().hex[:8]}", packages=V2,
                                 failing_units={"host1": ["web-app.service"]}))
    before = {h: testbed.state(h) for h in ("host1", "host2")}
    units = {h: testbed.dir / h / "state" / "units.tsv" for h in ("host1", "host2")}
    saved = {h: path.read_text() for h, path in units.items()}
    try:
        proc = testbed.labtui("deploy", "host1", "host2", "--waves", "1,100%", "--health-gate", "rollback", "--yes",
                              "--skip-checks", "--json")
        failed_on_host1 = testbed.in_host("host1", "PATH=/run/current-system/sw/bin:$PATH systemctl list-units "
                                                   "--state=failed --plain --no-legend")  # the host's systemctl
    finally:
        for host, path in units.items():
            path.write_text(saved[host])
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "web-app.service" in failed_on_host1  # the host really has it failed, as the gate saw
    assert [(e["wave"], e["ok"]) for e in events if e["event"] == "wave_result"] == [(1, False)]
    checks = [e for e in events if e["event"] == "check_result" and e["node"] == "host1"]
    assert [(c["check_kind"], c["ok"]) for c in checks] == [("failed-units", False)]
    results = {e["node"]: e for e in events if e["event"] == "node_result"}
    assert results["host1"]["outcome"] == "rolled_back" and "new failed units: web-app.service" in results[
        "host1"]["message"]
    assert results["host2"]["outcome"] == "not_deployed"
    testbed.settle()
    after = {h: testbed.state(h) for h in ("host1", "host2")}
    assert after["host1"].current_system == before["host1"].current_system  # back where it was
    assert after["host2"] == before["host2"]  # never touched


def test_exec_runs_on_every_host_and_lands_in_the_journal(testbed):
    proc = testbed.labtui("exec", "host1", "host2", "host3", "--json", "--", "sh", "-c",
                          'hostname; readlink /run/current-system; [ "$(hostname)" != host2 ] || exit 7')
    data = json_of(proc)
    assert proc.returncode == 1 and not data["ok"]
    by = {h["host"]: h for h in data["hosts"]}
    for host in testbed.hosts:  # each answered from inside its own namespaces
        first, second = by[host]["stdout"].splitlines()
        assert first == host and second == testbed.state(host).current_system
    assert (by["host1"]["exit_code"], by["host2"]["exit_code"]) == (0, 7)
    shown = json.loads(testbed.labtui("history", "show", data["run_id"], "--json").stdout)
    assert shown["action"] == "exec" and shown["outcome"] == "failed"
    assert {n["node"]: n["outcome"] for n in shown["node_details"]} == {
        "host1": "succeeded", "host2": "failed", "host3": "succeeded"}
