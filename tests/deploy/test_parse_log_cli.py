"""`labtui parse-log FILE [--json]`."""

from __future__ import annotations

import json
from pathlib import Path

from labtui.cli.main import main
from labtui.deploy.methods import METHODS

infer_exit_code = METHODS.get("deploy-rs").infer_exit_code

LOGS = Path(__file__).parent / "logs"


def test_summary_table_and_exit_status(capsys):
    code = main(["parse-log", str(LOGS / "multi-node-revoke.log")])
    out = capsys.readouterr().out
    assert code == 1
    table = out[out.index("NODE  PROFILE"):].splitlines()
    assert [row.split()[:3] for row in table[1:]] == [
        ["web1", "system", "rolled_back"], ["web2", "system", "rolled_back"], ["db1", "system", "rolled_back"]]
    assert "rollback   web1.system          revoke rollback, generation 31 removed" in out
    assert "output" not in out  # raw lines only with -v
    assert main(["parse-log", "-v", str(LOGS / "multi-node-revoke.log")]) == 1
    assert "switching profile from version 31 to 30" in capsys.readouterr().out


def test_json_lines(capsys):
    code = main(["parse-log", str(LOGS / "success-magic.log"), "--json"])
    lines = capsys.readouterr().out.splitlines()
    events = [json.loads(line) for line in lines]
    assert code == 0
    assert {"event", "ts"} <= set(events[0])
    assert events[-1]["event"] == "run_result" and events[-1]["outcome"] == "succeeded" and events[-1]["exit_code"] == 0
    assert [e["outcome"] for e in events if e["event"] == "node_result"] == ["succeeded"]


def test_rollback_with_exit_zero_is_reported_as_failure(capsys):
    assert main(["parse-log", str(LOGS / "legacy-timeout-exit0.log")]) == 1
    out = capsys.readouterr().out
    assert "deploy-rs exited 0, but pi.system rolled back" in out


def test_exit_code_option_and_targets(capsys):
    # cut after `Deployment confirmed.`: with --exit-code 1 the confirmation is not final
    assert main(["parse-log", str(LOGS / "success-magic.log"), "--exit-code", "1", "--targets", "web1.system",
                 "web2"]) == 1
    out = capsys.readouterr().out
    assert "web1  system   failed" in out and "web2  -        not_deployed" in out


def test_unknown_exit_status_is_noted(tmp_path, capsys):
    log = tmp_path / "cut.log"
    log.write_text("\n".join((LOGS / "success-magic.log").read_text().splitlines()[:22]) + "\n")
    assert infer_exit_code(log.read_text().splitlines()) is None
    assert main(["parse-log", str(log)]) == 1
    captured = capsys.readouterr()
    assert "pass --exit-code N" in captured.err and "failed" in captured.out


def test_missing_file_is_one_line(capsys):
    assert main(["parse-log", "/nonexistent/deploy.log"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("labtui: error: no such file `/nonexistent/deploy.log`")


def test_directory_is_refused(tmp_path, capsys):
    assert main(["parse-log", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_infer_exit_code():
    assert infer_exit_code((LOGS / "build-fails.log").read_text().splitlines()) == 1
    assert infer_exit_code((LOGS / "dry-activate.log").read_text().splitlines()) == 0
    assert infer_exit_code((LOGS / "interactive-declined.log").read_text().splitlines()) == 1
    assert infer_exit_code([]) is None


def test_nixos_rebuild_log(capsys):
    assert main(["parse-log", str(LOGS / "nixos-rebuild-units-fail.log"), "--method", "nixos-rebuild",
                 "--targets", "web1"]) == 1
    out = capsys.readouterr().out
    assert "web1  system   failed" in out
    assert main(["parse-log", str(LOGS / "nixos-rebuild-switch.log"), "--method", "nixos-rebuild",
                 "--targets", "web1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["outcome"] == "succeeded"
    assert main(["parse-log", str(LOGS / "nixos-rebuild-switch.log"), "--method", "nixos-rebuild"]) == 2
    assert "--targets HOST" in capsys.readouterr().err


# ---- timeouts: where they come from (issue 10 point 4) --------------------------------------------------------------

REAL = LOGS / "real" / "deploy-rs"


def windows(capsys, *argv: str) -> tuple[dict, dict, str]:
    assert main(["parse-log", *argv, "--json"]) in (0, 1)
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    confirm = next(e for e in events if e["event"] == "confirm_window")
    activation = next(e for e in events if e["event"] == "activation_window")
    result = [e for e in events if e["event"] == "node_result"][-1]
    return confirm, activation, result["message"]


def test_timeouts_given_to_parse_log_are_used_and_named(capsys):
    """The real run used --activation-timeout 3 --confirm-timeout 10; the log does not say so."""
    log = str(REAL / "activation-timeout.log")
    confirm, activation, message = windows(capsys, log)
    assert (confirm["seconds"], confirm["source"]) == (30, "deploy-rs's default")
    assert (activation["seconds"], activation["source"]) == (240, "deploy-rs's default")
    confirm, activation, message = windows(capsys, log, "--confirm-timeout", "10", "--activation-timeout", "3")
    assert (confirm["seconds"], confirm["source"]) == (10, "--confirm-timeout given to parse-log")
    assert (activation["seconds"], activation["source"]) == (3, "--activation-timeout given to parse-log")
    assert "activation timeout of 3 s (--activation-timeout given to parse-log)" in message
    assert "not confirmed within 10 s (--confirm-timeout given to parse-log)" in message


def test_timeouts_of_a_debug_log_come_from_the_log(capsys):
    confirm, _activation, _message = windows(capsys, str(REAL / "success-debug.log"), "--confirm-timeout", "99")
    assert (confirm["seconds"], confirm["source"]) == (30, "log")  # what deploy-rs really passed wins


def test_timeouts_from_the_flake(capsys, tmp_path):
    from tests.support import require_tool

    require_tool("nix", "the flake is evaluated")
    fleet = Path(__file__).resolve().parents[1] / "fixtures" / "flakes" / "fleet"
    log = tmp_path / "db1.log"
    log.write_text((REAL / "activation-timeout.log").read_text().replace("host1", "db1"))
    confirm, activation, _message = windows(capsys, "--flake", str(fleet), str(log))
    assert (confirm["seconds"], confirm["source"]) == (60, "flake")  # deploy.confirmTimeout
    assert (activation["seconds"], activation["source"]) == (240, "deploy-rs's default")  # db1 sets none
    # an option given to parse-log beats the flake
    confirm, _activation, _message = windows(capsys, "--flake", str(fleet), str(log), "--confirm-timeout", "5")
    assert (confirm["seconds"], confirm["source"]) == (5, "--confirm-timeout given to parse-log")


def test_timeline_says_where_a_timeout_came_from(capsys):
    assert main(["parse-log", str(REAL / "magic-rollback.log"), "--confirm-timeout", "10"]) == 1
    out = capsys.readouterr().out
    assert "waits 10 s for confirmation (--confirm-timeout given to parse-log)" in out
