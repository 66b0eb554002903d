"""A supervisor killed mid-deploy (issue 11, point 5): its deploy processes end with it, the run is `lost`, its
unfinished nodes `unknown` (never `failed` by guess, never `exit None`), in the journal, the events file and every
face; the next probe of the host records what it runs beside the `unknown`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from labtui.cli.main import main
from labtui.runs.client import supervisor_pid
from labtui.runs.journal import Journal
from labtui.runs.lost import settle_lost_runs
from tests.deploy.emulated import emulated  # noqa: F401  (fixture)
from tests.support.waiting import activating, read_until, wait_for

REPO = Path(__file__).resolve().parents[2]



def processes_with(marker: str, *, start: bool = False) -> list[int]:
    """Pids of live processes (not zombies) whose command line holds (`start`: starts with) `marker`."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{name}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = Path(f"/proc/{name}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if (cmdline.startswith(marker) if start else marker in cmdline) and state != b"Z":
            found.append(int(name))
    return found


LEASHED = """
import asyncio, sys
from labtui.deploy.parse.deploy_rs import DeployRsParser
from labtui.deploy.runner import CommandRunner, RunnerTimings

SCRIPT = "sleep 987601 & setsid sleep 987602 & echo started; wait"

async def main():
    runner = CommandRunner(["sh", "-c", SCRIPT], DeployRsParser(), timings=RunnerTimings(stall_after=None))
    async for event in runner.events():
        if getattr(event, "line", "") == "started":
            print("ready", flush=True)

asyncio.run(main())
"""


def test_the_leash_ends_the_whole_deploy_when_its_runner_is_killed():
    """deploy-rs's group and a child that left it (setsid) end when the process running them gets SIGKILL."""
    proc = subprocess.Popen([sys.executable, "-c", LEASHED], cwd=REPO, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "LABTUI_LEASH_GRACE": "0.5"})
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        wait_for(lambda: len(processes_with("sleep 98760", start=True)) == 2, 10, "both children to run")
        proc.kill()  # SIGKILL: no handler, no cleanup, no chance to signal anyone
        proc.wait(10)
        wait_for(lambda: not processes_with("sleep 98760", start=True), 15,
                 "the deploy's processes to end with their runner")
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in processes_with("sleep 98760", start=True):
            os.kill(pid, signal.SIGKILL)


def test_supervisor_killed_mid_activation_is_lost_with_its_node_unknown(emulated, capsys):
    emulated.scenario({"web1": "hang"}, hang_stage="activate")  # deploy-rs activates, then never returns
    env = {**os.environ, "HARNESS_HOSTS": "web1", "LABTUI_LEASH_GRACE": "0.5"}
    face = subprocess.Popen([sys.executable, "-m", "tests.deploy.cli_harness", "deploy", "web1", "--yes", "--json"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        events: list[dict] = []
        read_until(face, events, activating)
        run_id = next(e["run_id"] for e in events if e["event"] == "run_started")
        deploy_rs = wait_for(lambda: processes_with(str(emulated.bin_dir)), 10, "deploy-rs to run")
        supervisor = supervisor_pid(run_id)
        assert supervisor is not None
        os.kill(supervisor, signal.SIGKILL)

        # deploy-rs does not go on without its supervisor.
        wait_for(lambda: not processes_with(str(emulated.bin_dir)), 15, f"deploy-rs ({deploy_rs}) to end")
        # The face says lost, with the node unknown, and no made-up exit code.
        out, err = face.communicate(timeout=30)
    finally:
        if face.poll() is None:
            face.kill()
    tail = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert face.returncode == 1, err
    assert "Traceback" not in err and "exit None" not in out + err
    result = tail[-1]
    assert (result["event"], result["outcome"], result["exit_code"]) == ("run_result", "lost", None)
    assert [(e["node"], e["outcome"]) for e in tail if e["event"] == "node_result"] == [("web1", "unknown")]

    # The journal and the run's own events file say the same.
    journal = Journal.open()
    detail = journal.get_run(run_id)
    assert detail.summary.outcome == "lost" and detail.summary.exit_code is None
    assert [(n.node, n.outcome) for n in detail.nodes] == [("web1", "unknown")]
    assert f"pid {supervisor}" in detail.nodes[0].message
    recorded = [json.loads(line) for line in detail.events_path.read_text().splitlines() if line.strip()]
    assert recorded[-1]["event"] == "run_result" and recorded[-1]["outcome"] == "lost"
    assert settle_lost_runs(journal) == []  # already settled: once only

    # `labtui history` lists it lost; `history show` says what is (not) known of the host.
    assert main(["history"]) == 0
    listing = capsys.readouterr().out
    assert run_id in listing and "lost" in listing and "unknown" in listing
    assert main(["history", "show", run_id]) == 1
    shown = capsys.readouterr().out
    assert "outcome unknown: no probe of the host since the run was lost" in shown

    # The next probe of web1 (here: the next deploy's, as a node_state event) records what it runs.
    assert journal.record_found("web1", "/nix/store/abc-nixos-system-web1", 43) == 1
    main(["history", "show", run_id])
    shown = capsys.readouterr().out
    assert "found running generation 43 (/nix/store/abc-nixos-system-web1)" in shown
    assert journal.get_run(run_id).nodes[0].outcome == "unknown"  # what runs is not what the deploy did


def test_status_probe_records_what_a_lost_run_left_behind(hostile_hosts, monkeypatch, tmp_path):
    from labtui.sim.state import SimLab
    from tests.faults.harness import run_cli, use_fleet
    from tests.ops.conftest import sim_host
    from tests.support.asyncssh_server import lab_handler

    lab = SimLab(tmp_path / "lab")
    lab.save(sim_host("web1"))
    host = lab.load("web1")
    use_fleet(monkeypatch, hostile_hosts.inventory(hostile_hosts.start("web1", lab_handler(lab, "web1"))))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    journal = Journal.open()
    journal.begin_run("lost-run", operator="a", method="deploy-rs", action="switch", targets=[("web1", None)],
                      supervisor_pid=dead.pid)
    result = run_cli(["status", "--no-drift", "--timeout", "10"])
    assert result.code == 0, result.text
    node = journal.get_run("lost-run").nodes[0]
    assert node.outcome == "unknown"  # settled lost by `status` itself, then found
    assert node.found_generation == host.current and node.found_path == host.generation(host.current).path
