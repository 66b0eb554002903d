"""The fault suite's own harness: a hostile host is reached by the real CLI as a configured host."""

from __future__ import annotations

from labtui.sim.state import SimLab
from tests.faults.harness import assert_harmless_output, assert_no_traceback, run_cli, use_fleet
from tests.ops.conftest import sim_host
from tests.support.asyncssh_server import lab_handler


def test_a_healthy_host_answers_the_real_cli(hostile_hosts, monkeypatch, tmp_path):
    lab = SimLab(tmp_path / "lab")
    lab.save(sim_host("web1", units={"nginx.service": "active"}))
    use_fleet(monkeypatch, hostile_hosts.inventory(hostile_hosts.start("web1", lab_handler(lab, "web1"))))
    result = run_cli(["status", "--no-drift", "--timeout", "10"])
    assert_no_traceback(result)
    assert_harmless_output(result)
    assert result.code == 0, result.text
    assert result.out.splitlines()[1].split()[:2] == ["web1", "up"], result.out
