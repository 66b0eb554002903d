"""DeployRsParser on hand-written transcripts (tests/deploy/logs, see its README) and on edge cases."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from labtui.deploy.parse import parse_lines
from labtui.deploy.parse.ansi import clean_line, strip_ansi
from labtui.deploy.parse.deploy_rs import DeployRsParser
from labtui.runs.events import (
    ActivationWindow,
    Confirmed,
    ConfirmWindow,
    GenerationSwitched,
    NodeResult,
    Output,
    Prompt,
    Rollback,
    RunResult,
    StageChanged,
    event_from_dict,
)

LOGS = Path(__file__).parent / "logs"
WEB1 = ("web1", "system")


def lines_of(name: str) -> list[str]:
    return (LOGS / f"{name}.log").read_text(encoding="utf-8").splitlines()


def run(name_or_lines, exit_code, targets=None, **kw):
    lines = lines_of(name_or_lines) if isinstance(name_or_lines, str) else name_or_lines
    parser = DeployRsParser(targets, **kw)
    events = parse_lines(parser, lines, exit_code)
    return parser, events


def of(events, cls):
    return [e for e in events if isinstance(e, cls)]


def final(events) -> dict:
    """The last node_result per (node, profile) → (outcome, stage)."""
    out = {}
    for e in of(events, NodeResult):
        out[(e.node, e.profile)] = (e.outcome, e.stage)
    return out


# name, exit code, targets (None: learned from the log), {target: (outcome, stage)}, run outcome
CASES = [
    ("success-magic", 0, [WEB1], {WEB1: ("succeeded", "confirm")}, "succeeded"),
    ("success-pasted-no-fe0f", 0, None, {("example.com", "system"): ("succeeded", "confirm")}, "succeeded"),
    ("activation-fails-auto-rollback", 1, [WEB1], {WEB1: ("rolled_back", "activate")}, "failed"),
    ("magic-timeout-panic", 1, [("gw", "system")], {("gw", "system"): ("rolled_back", "confirm")}, "failed"),
    # confirmed, then the activation session died (Some(255)): the target keeps the new generation (real runs:
    # tests/deploy/logs/real/deploy-rs/killed-session-confirm-window.log)
    ("interleaved-panic", 1, [("nas", "system")], {("nas", "system"): ("succeeded", "confirm")}, "succeeded"),
    ("session-lost", 1, [("gw", "system")], {("gw", "system"): ("failed", "activate")}, "failed"),
    ("build-fails", 1, [WEB1, ("web2", "system")],
     {WEB1: ("not_deployed", "build"), ("web2", "system"): ("failed", "build")}, "failed"),
    ("push-fails", 1, [WEB1], {WEB1: ("failed", "push")}, "failed"),
    ("check-fails", 1, [WEB1], {WEB1: ("not_deployed", "check")}, "failed"),
    ("eval-fails", 1, [WEB1], {WEB1: ("not_deployed", "eval")}, "failed"),
    ("dry-activate", 0, [WEB1, ("web2", "system")],
     {WEB1: ("dry_activated", "activate"), ("web2", "system"): ("dry_activated", "activate")}, "succeeded"),
    ("boot", 0, [("db1", "system")], {("db1", "system"): ("succeeded", "activate")}, "succeeded"),
    ("multi-node-revoke", 1, [WEB1, ("web2", "system"), ("db1", "system")],
     {WEB1: ("rolled_back", "revoke"), ("web2", "system"): ("rolled_back", "revoke"),
      ("db1", "system"): ("rolled_back", "activate")}, "failed"),
    ("interactive-yes", 0, [("web1", None)],
     {WEB1: ("succeeded", "confirm"), ("web1", "home"): ("succeeded", "confirm")}, "succeeded"),
    ("interactive-declined", 1, [WEB1], {WEB1: ("not_deployed", "eval")}, "cancelled"),
    ("legacy-timeout-exit0", 0, None, {("pi", "system"): ("rolled_back", "confirm")}, "failed"),
    ("legacy-push-fails", 1, None, {("pi", "system"): ("failed", "push")}, "failed"),
    ("activation-timeout", 1, None, {("db1", "system"): ("failed", "activate")}, "failed"),
    ("no-auto-rollback", 1, [WEB1], {WEB1: ("failed", "activate")}, "failed"),
]


@pytest.mark.parametrize("name, code, targets, expected, run_outcome", CASES, ids=[c[0] for c in CASES])
def test_transcript_outcomes(name, code, targets, expected, run_outcome):
    parser, events = run(name, code, targets, dry_activate=name == "dry-activate", boot=name == "boot")
    assert final(events) == expected
    results = of(events, RunResult)
    assert len(results) == 1 and events[-1] is results[0]
    assert results[0].outcome == run_outcome and results[0].exit_code == code
    if run_outcome != "succeeded":
        assert results[0].message
    # every target has exactly one result, except revoked ones (succeeded, then rolled_back)
    counts: dict = {}
    for e in of(events, NodeResult):
        counts[(e.node, e.profile)] = counts.get((e.node, e.profile), 0) + 1
    for key, n in counts.items():
        assert n == (2 if expected[key][1] == "revoke" else 1), key
    assert parser.results.keys() == expected.keys()


@pytest.mark.parametrize("name, code, targets, expected, run_outcome", CASES, ids=[c[0] for c in CASES])
def test_transcripts_without_targets_learn_the_nodes(name, code, targets, expected, run_outcome):
    _parser, events = run(name, code, None)
    learned = final(events)
    if name in ("check-fails", "eval-fails"):
        assert learned == {}  # nothing in the log names a node before the failure
    else:
        assert learned == expected


def test_ansi_and_plain_give_the_same_events():
    with_ansi = lines_of("success-magic")
    assert any("\x1b[38;5;51mINFO\x1b[0m" in line for line in with_ansi)
    plain = [strip_ansi(line) for line in with_ansi]
    a = [e.to_dict() for e in run(with_ansi, 0, [WEB1])[1]]
    b = [e.to_dict() for e in run(plain, 0, [WEB1])[1]]
    assert a == b


@pytest.mark.parametrize("src, lvl", [
    ("🚀", "ℹ️"), ("🚀", "ℹ"), ("🚀", "⚠️"), ("🚀", "⚠"), ("🚀", "❌"), ("🚀", "❓"), ("🚀", "🖊️"), ("🚀", "🖊"),
])
def test_emoji_variants_and_spacing(src, lvl):
    for sep in (" ", "  "):
        line = f"{src}{sep}{lvl}{sep}[deploy] [INFO] Building profile `system` for node `web1`"
        events = DeployRsParser([WEB1]).feed(line, 1.0)
        assert of(events, StageChanged)[0].stage == "build"


@pytest.mark.parametrize("src, tag", [("⭐", "activate"), ("👀", "wait"), ("↩️", "revoke"), ("↩", "revoke")])
def test_remote_sources(src, tag):
    parser = DeployRsParser([WEB1])
    parser.feed("🚀 ℹ️ [deploy] [INFO] Activating profile `system` for node `web1`", 1.0)
    out = of(parser.feed(f"{src} ℹ️ [{tag}] [INFO] Activating profile", 2.0), Output)
    assert out[0].source == tag and out[0].node == "web1"


def test_magic_success_event_sequence_and_windows():
    _p, events = run("success-magic", 0, [WEB1], confirm_timeouts={WEB1: 90}, activation_timeouts={WEB1: 600})
    kinds = [e.kind for e in events if e.kind != "output"]
    assert kinds == ["stage", "stage", "stage", "stage", "stage", "activation_window", "stage", "confirm_window",
                     "confirmed", "node_result", "run_result"]
    assert of(events, ConfirmWindow)[0].seconds == 90
    assert of(events, ActivationWindow)[0].seconds == 600
    stages = [(e.node, e.stage) for e in of(events, StageChanged)]
    assert stages == [(None, "check"), (None, "eval"), ("web1", "build"), ("web1", "push"), ("web1", "activate"),
                      ("web1", "confirm")]


def test_default_windows_are_30_and_240():
    _p, events = run("success-magic", 0, [WEB1])
    assert of(events, ConfirmWindow)[0].seconds == 30
    assert of(events, ActivationWindow)[0].seconds == 240


def test_raw_lines_keep_node_and_stage():
    _p, events = run("activation-fails-auto-rollback", 1, [WEB1])
    job = [e for e in of(events, Output) if e.line.startswith("Job for nginx.service failed")]
    assert job and job[0].node == "web1" and job[0].stage == "activate" and job[0].source == "raw"
    copying = [e for e in of(events, Output) if e.line.startswith("copying")]
    assert all(e.stage == "push" for e in copying)
    # the orphaned [wait] line after the final error is shown, and changes nothing
    last = of(events, Output)[-1]
    assert last.source == "wait" and "Timeout elapsed" in last.line


def test_rollback_events_kind_and_generation():
    _p, events = run("activation-fails-auto-rollback", 1, [WEB1])
    assert [(r.node, r.rollback_kind, r.generation_removed) for r in of(events, Rollback)] == [("web1", "auto", 42)]
    _p, events = run("magic-timeout-panic", 1, [("gw", "system")])
    assert [(r.rollback_kind, r.generation_removed) for r in of(events, Rollback)] == [("magic", 17)]
    # the rollback was seen before `Deployment confirmed.`: no misleading `confirmed` event
    assert of(events, Confirmed) == []


def test_revoke_attribution_and_supersede():
    _p, events = run("multi-node-revoke", 1)
    rollbacks = [(r.node, r.rollback_kind, r.generation_removed) for r in of(events, Rollback)]
    assert rollbacks == [("db1", "auto", 8), ("web1", "revoke", 31), ("web2", "revoke", 12)]
    web1 = [e.outcome for e in of(events, NodeResult) if e.node == "web1"]
    assert web1 == ["succeeded", "rolled_back"]
    revoke_raw = [e for e in of(events, Output) if e.line == "switching profile from version 12 to 11"]
    assert revoke_raw[0].node == "web2" and revoke_raw[0].stage == "revoke"
    # nix-env's switch lines become events, with the node they belong to (the journal records these)
    switches = [(e.node, e.from_generation, e.to_generation) for e in of(events, GenerationSwitched)]
    assert switches == [("db1", 8, 7), ("web1", 31, 30), ("web2", 12, 11)]


def test_old_nix_env_wording_is_a_generation_switch_too():
    _p, events = run("legacy-timeout-exit0", 0)
    assert [(e.from_generation, e.to_generation) for e in of(events, GenerationSwitched)] == [(5, 4)]


def test_revoke_skips_profiles_without_auto_rollback():
    _p, events = run("multi-node-revoke", 1, auto_rollbacks={WEB1: False})
    # web1 is not revoked by deploy-rs: the first [revoke] block is web2's
    rollbacks = [(r.node, r.rollback_kind) for r in of(events, Rollback)]
    assert rollbacks[:2] == [("db1", "auto"), ("web2", "revoke")]
    assert final(events)[WEB1] == ("succeeded", "confirm")


def test_build_failure_names_the_nix_error():
    _p, events = run("build-fails", 1, [WEB1, ("web2", "system")])
    web2 = [e for e in of(events, NodeResult) if e.node == "web2"][0]
    assert "Failed to build profile on node web2: web2" in web2.message
    assert "builder for" in web2.message  # the cause deploy-rs drops (its `{0}: {0}` bug)
    web1 = [e for e in of(events, NodeResult) if e.node == "web1"][0]
    assert web1.message == "not deployed: build of web2.system failed"


def test_plan_and_prompts_with_glued_prompt_marker():
    parser = DeployRsParser([("web1", None)])
    events = []
    for line in lines_of("interactive-yes"):
        events += parser.feed(line, 1.0)
        if line.endswith("Are you sure you want to deploy these profiles?"):
            assert parser.awaiting_answer
    prompts = of(events, Prompt)
    assert [p.question[:20] for p in prompts] == ["Are you sure you wan", "Sounds like you migh"]
    plan = prompts[0].plan
    assert [(p.node, p.profile, p.user, p.ssh_user, p.hostname) for p in plan] == [
        ("web1", "system", "root", "alice", "10.0.0.11"), ("web1", "home", "alice", "alice", "10.0.0.11")]
    assert plan[0].path.startswith("/nix/store/") and plan[0].ssh_opts == []
    assert not parser.awaiting_answer
    assert parser.plan == plan
    # the `> ` glued to the next record does not hide it
    assert any(e.stage == "build" and e.node == "web1" for e in of(events, StageChanged))
    # placeholder (web1, None) became web1.system, then web1.home was learned
    assert parser.targets == [WEB1, ("web1", "home")]


def test_plan_ssh_opts_and_quoted_node():
    p, _ = run("boot", 0)
    assert p.plan[0].ssh_opts == ["-p", "2222"]
    p, _ = run("success-pasted-no-fe0f", 0)
    assert p.plan[0].node == "example.com"


def test_declined_prompt_cancels_the_run():
    parser, events = run("interactive-declined", 1, [WEB1])
    assert of(events, RunResult)[0].outcome == "cancelled"
    assert of(events, NodeResult)[0].message == "declined at the deploy-rs prompt"


def test_panic_noise_dropped_but_interleaved_line_kept():
    _p, events = run("interleaved-panic", 1)
    lines = [e.line for e in of(events, Output)]
    assert not any(line.startswith(("thread '", "called `Result", "note: run with")) for line in lines)
    assert "Connection to nas.lan closed by remote host." in lines


def test_confirmed_is_not_final_until_exit_zero_or_next_profile():
    lines = lines_of("success-magic")
    parser = DeployRsParser([WEB1])
    events = [e for line in lines for e in parser.feed(line, 1.0)]
    assert of(events, Confirmed) and not of(events, NodeResult)
    tail = parser.finish(1, 2.0)
    assert final(tail) == {WEB1: ("failed", "confirm")}
    assert of(tail, RunResult)[0].outcome == "failed"


def test_finish_during_activation_when_cancelled_or_killed():
    lines = lines_of("success-magic")[:22]  # up to the switch output
    cases = ((None, True, "cancelled"), (None, False, "failed"), (137, False, "failed"))
    for exit_code, cancelled, run_outcome in cases:
        parser = DeployRsParser([WEB1, ("web2", "system")])
        for line in lines:
            parser.feed(line, 1.0)
        tail = parser.finish(exit_code, 2.0, cancelled=cancelled)
        outcomes = final(tail)
        assert outcomes[WEB1] == ("failed", "activate")
        assert outcomes[("web2", "system")][0] == "not_deployed"
        assert of(tail, RunResult)[0].outcome == run_outcome
        assert "roll back by itself" in [e for e in of(tail, NodeResult) if e.node == "web1"][0].message


def test_usage_error_exit_2():
    parser = DeployRsParser([WEB1])
    events = parse_lines(parser, ["error: invalid value 'yes' for '--magic-rollback <MAGIC_ROLLBACK>'",
                                  "  [possible values: true, false]"], 2)
    r = of(events, NodeResult)[0]
    assert r.outcome == "not_deployed" and "exit 2" in r.message
    assert of(events, RunResult)[0].outcome == "failed"


def test_after_finish_only_output():
    parser = DeployRsParser([WEB1])
    parse_lines(parser, lines_of("activation-fails-auto-rollback"), 1)
    late = parser.feed("👀 ❌ [wait] [ERROR] Error waiting for activation: Timeout elapsed for confirmation", 9.0)
    assert [e.kind for e in late] == ["output"]
    assert parser.finish(1, 9.0) == []


def test_dry_activate_attribution_without_flag():
    # parse-log does not know the flags: `Completed dry-activate!` tells
    _p, events = run("dry-activate", 0)
    assert final(events) == {("web2", "system"): ("dry_activated", "activate"),
                             ("web1", "system"): ("dry_activated", "activate")}
    # with the flag, switch-to-configuration's "would ..." lines start the dry activation
    _p, events = run("dry-activate", 0, dry_activate=True)
    would = [e for e in of(events, Output) if e.line.startswith("would restart")]
    assert [(e.node, e.stage) for e in would] == [("web2", "activate"), ("web1", "activate")]


def test_debug_lines_learn_timeouts_and_revoke_target():
    lines = [
        "🚀 ℹ️ [deploy] [INFO] Activating profile `system` for node `web1`",
        "🚀 ❓ [deploy] [DEBUG] Constructed activation command: /nix/store/x-activatable/activate-rs activate "
        "'/nix/store/x' --profile-user root --profile-name system --temp-path '/tmp' --confirm-timeout 75 "
        "--magic-rollback --auto-rollback",
        "🚀 ❓ [deploy] [DEBUG] Constructed wait command: /nix/store/x/activate-rs wait '/nix/store/x' "
        "--temp-path '/tmp' --activation-timeout 500",
        "🚀 ℹ️ [deploy] [INFO] Creating activation waiter",
        "⭐ ℹ️ [activate] [INFO] Activating profile",
        "👀 ℹ️ [wait] [INFO] Waiting for confirmation event...",
        "⭐ ℹ️ [activate] [INFO] Waiting for confirmation event...",
    ]
    parser = DeployRsParser()
    events = [e for line in lines for e in parser.feed(line, 1.0)]
    assert of(events, ConfirmWindow)[0].seconds == 75
    assert of(events, ActivationWindow)[0].seconds == 500


def test_log_dir_file_format():
    lines = [
        "INFO [deploy::cli] Evaluating flake in .",
        "INFO [deploy::push] Building profile `system` for node `web1`",
        "INFO [deploy::push] Copying profile `system` to node `web1`",
        "INFO [deploy::deploy] Activating profile `system` for node `web1`",
        "INFO [deploy::deploy] Success activating, done!",
    ]
    _p, events = run(lines, 0)
    assert final(events) == {WEB1: ("succeeded", "activate")}


def test_2026_format_build_failure():
    lines = [
        "🚀 ℹ️ [deploy] [INFO] Evaluating flake in .",
        "🚀 ℹ️ [deploy] [INFO] starting build of profile system on node XYZ",
        "⢎  Building profile 'system' on host 'XYZ' │ [4/153 built] building 'foo.drv'",
        "❌ [deploy] [ERROR] Failed to build profile system on node XYZ: Build exited with status 1",
    ]
    _p, events = run(lines, 1)
    assert final(events) == {("XYZ", "system"): ("failed", "build")}


def test_events_round_trip_through_json():
    _p, events = run("multi-node-revoke", 1)
    for e in events:
        d = json.loads(json.dumps(e.to_dict()))
        assert event_from_dict(d) == e


def test_clean_line():
    assert clean_line("\x1b[1mbold\x1b[0m\r\n") == "bold"
    assert clean_line("[1/3 built]\r[2/3 built]\r") == "[2/3 built]"
    assert clean_line("\x1b]0;title\x07text") == "text"
    assert strip_ansi("plain") == "plain"


def test_transcripts_follow_the_reference_line_format():
    """Every tagged line of every transcript matches the record regex (docs/deploy-rs-output.md §3)."""
    ref = re.compile(r"^(🚀|⭐|👀|↩\ufe0f?)\s+(❌|⚠\ufe0f?|ℹ\ufe0f?|❓|🖊\ufe0f?)\s+\[(deploy|activate|wait|revoke)\]\s+"
                     r"\[(ERROR|WARN|INFO|DEBUG|TRACE)\]\s(.*)$")
    for path in LOGS.glob("*.log"):
        for line in path.read_text(encoding="utf-8").splitlines():
            text = strip_ansi(line)
            if text.startswith("> "):
                text = text[2:]
            if "] [" in text and text[:1] in "🚀⭐👀↩":
                assert ref.match(text), (path.name, line)


def test_sudo_prompt_glued_to_the_next_record_in_a_pty():
    parser = DeployRsParser()
    lines = ["(sudo for 10.0.0.11) Password: 🚀 ℹ️ [deploy] [INFO] The following profiles are going to be deployed:",
             "[web1.system]", 'user = "root"', 'ssh_user = "alice"', 'path = "/nix/store/x"', 'hostname = "10.0.0.11"',
             "ssh_opts = []", "", "(sudo for 10.0.0.11) Password: "]
    events = [e for line in lines for e in parser.feed(line + "\r\n", 1.0)]
    assert [(p.node, p.profile) for p in parser.plan] == [WEB1]
    assert [(e.source, e.line) for e in of(events, Output)][-1] == ("raw", "(sudo for 10.0.0.11) Password: ")


def test_failed_dry_activation_is_not_deployed():
    lines = [line for line in lines_of("dry-activate") if "Completed dry-activate!" not in line][:-2] + [
        "🚀 ❌ [deploy] [ERROR] Activating over SSH resulted in a bad exit code: Some(255)",
        "🚀 ℹ️ [deploy] [INFO] dry run, not rolling back",
        "🚀 ℹ️ [deploy] [INFO] Revoking previous deploys",
        "🚀 ❌ [deploy] [ERROR] Deployment to node web2 failed, rolled back to previous generation",
    ]
    _p, events = run(lines, 1, dry_activate=True)
    assert final(events)[("web2", "system")] == ("not_deployed", "activate")
    assert final(events)[WEB1][0] == "not_deployed"


def test_record_glued_to_another_programs_unfinished_line():
    parser = DeployRsParser([WEB1])
    parser.feed("🚀 ℹ️ [deploy] [INFO] Activating profile `system` for node `web1`", 1.0)
    parser.feed("🚀 ℹ️ [deploy] [INFO] Creating activation waiter", 1.0)
    events = parser.feed("[3/304/368 built, 2357.4/2364.1 MiB DL] building unit-systemd"
                         "⭐ ⚠️ [activate] [WARN] De-activating due to error", 2.0)
    outputs = of(events, Output)
    assert [(o.source, o.line) for o in outputs] == [
        ("raw", "[3/304/368 built, 2357.4/2364.1 MiB DL] building unit-systemd"),
        ("activate", "⭐ ⚠️ [activate] [WARN] De-activating due to error")]
    tail = parser.finish(1, 3.0)
    assert final(tail)[WEB1][0] == "rolled_back"


def test_several_plans_are_merged():
    lines = ["🚀 ℹ️ [deploy] [INFO] The following profiles are going to be deployed:", "[a.system]", 'user = "root"', "",
             "🚀 ℹ️ [deploy] [INFO] The following profiles are going to be deployed:", "[b.system]", 'user = "root"', "",
             "🚀 ℹ️ [deploy] [INFO] Are you sure you want to deploy these profiles?"]
    _p, events = run(lines, 1)
    assert [(e.node, e.profile) for e in of(events, Prompt)[0].plan] == [("a", "system"), ("b", "system")]


def test_old_main_thread_panic_with_backtrace():
    """deploy-rs before 23aafa5 (#287): the main thread panics too, with RUST_BACKTRACE=1; exit 101."""
    log = lines_of("magic-timeout-panic")
    cut = next(i for i, line in enumerate(log) if "attempting to confirm activation" in line) + 1
    lines = log[:cut] + [
        "⭐ ❌ [activate] [ERROR] Failed to get activation confirmation: Error waiting for confirmation event: "
        "Timeout elapsed for confirmation",
        "thread 'tokio-runtime-worker' panicked at /build/source/src/deploy.rs:488:41:",
        "called `Result::unwrap()` on an `Err` value: SSHActivateExit(Some(1))",
        "stack backtrace:",
        "   0: rust_begin_unwind",
        "   1: core::panicking::panic_fmt",
        "note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.",
        "thread 'main' panicked at /build/source/src/deploy.rs:523:30:",
        "called `Result::unwrap()` on an `Err` value: RecvError(())",
        "stack backtrace:",
        "   0: rust_begin_unwind",
        "             at /rustc/abc/library/std/src/panicking.rs:645:5",
    ]
    _p, events = run(lines, 101, [("gw", "system")])
    assert final(events) == {("gw", "system"): ("rolled_back", "confirm")}
    assert [r.rollback_kind for r in of(events, Rollback)] == ["magic"]
    assert not any("panicked" in o.line or "rust_begin_unwind" in o.line or "at /rustc" in o.line
                   for o in of(events, Output))
