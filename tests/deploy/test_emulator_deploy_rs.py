"""The deploy-rs emulator (labtui.sim.deploy_rs) against the reference, checked through the parser."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labtui.deploy.parse import parse_lines
from labtui.deploy.parse.ansi import strip_ansi
from labtui.deploy.parse.deploy_rs import LOG_RE, DeployRsParser
from labtui.runs.events import ConfirmWindow, NodeResult, Output, Prompt, Rollback
from labtui.sim.deploy_rs import _yn
from labtui.sim.deploy_rs_args import parse_fragment
from labtui.sim.emulators import install_emulators
from labtui.sim.state import Generation, SimHost, SimLab, fake_store_path

WEB1 = ("web1", "system")


@pytest.fixture
def emu(tmp_path):
    bin_dir = install_emulators(tmp_path / "bin")
    scenario = tmp_path / "scenario.json"

    class Emu:
        path = scenario
        deploy = str(bin_dir / "deploy")
        env = {**os.environ, "LABTUI_SIM_SCENARIO": str(scenario)}

        def nodes(self, nodes: dict, **top):
            spec = {"time_scale": 0.0, **top, "nodes": {
                n: ({"hostname": f"{n}.lab", "scenario": v} if isinstance(v, str) else {"hostname": f"{n}.lab", **v})
                for n, v in nodes.items()}}
            scenario.write_text(json.dumps(spec))

        def run(self, *args, stdin: str = "", merged=True, env=None):
            return subprocess.run([self.deploy, *args], input=stdin, capture_output=not merged,
                                  stdout=subprocess.PIPE if merged else None,
                                  stderr=subprocess.STDOUT if merged else None,
                                  text=True, timeout=60, env=env or self.env)

    return Emu()


def parse(proc, targets=None, **kw):
    parser = DeployRsParser(targets, **kw)
    events = parse_lines(parser, proc.stdout.splitlines(), proc.returncode)
    return parser, events


def final(events):
    out = {}
    for e in events:
        if isinstance(e, NodeResult):
            out[(e.node, e.profile)] = e.outcome
    return out


# ---------------------------------------------------------------- clap usage errors (exit 2)

@pytest.mark.parametrize("args, text", [  # clap 4.0's words, as the observed build prints them
    (["--magic-rollback"], "error: The argument '--magic-rollback <MAGIC_ROLLBACK>' requires a value but none was "
                           "supplied\n  [possible values: true, false]"),
    (["--magic-rollback", "yes", "."], "error: 'yes' isn't a valid value for '--magic-rollback <MAGIC_ROLLBACK>'\n"
                                       "  [possible values: true, false]"),
    (["--auto-rollback", "True", "."], "'True' isn't a valid value for '--auto-rollback <AUTO_ROLLBACK>'"),
    (["--confirm-timeout", "abc", "."], "Invalid value 'abc' for '--confirm-timeout <CONFIRM_TIMEOUT>': "
                                        "invalid digit found in string"),
    (["--confirm-timeout", "70000", "."], "number too large to fit in target type"),
    (["--bogus"],
     "error: Found argument '--bogus' which wasn't expected, or isn't valid in this context\n\n"
     "  If you tried to supply '--bogus' as a value rather than a flag, use '-- --bogus'"),
    ([".#a", ".#b"], "error: Found argument '.#b' which wasn't expected"),
    ([".#a", "--targets", ".#b"], "error: The argument '[TARGET]' cannot be used with '--targets <TARGETS>...'"),
])
def test_usage_errors_exit_2(emu, args, text):
    emu.nodes({"a": "success"})
    proc = emu.run(*args, merged=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and text in proc.stderr
    assert proc.stderr.rstrip().endswith("For more information try '--help'")
    assert "\x1b" not in proc.stderr and "🚀" not in proc.stderr  # clap, before the logger


def test_help_version_and_combined_short_flags(emu):
    emu.nodes({"web1": "success"})
    assert emu.run("--version", merged=False).stdout == "deploy-rs 1.0\n"
    assert "Usage: deploy [OPTIONS] [TARGET]" in emu.run("--help", merged=False).stdout
    proc = emu.run("-ds", ".#web1")  # -d debug logs, -s skip checks
    assert proc.returncode == 0
    assert "Running checks" not in proc.stdout and "DEBUG\x1b[0m] Checking for flake support" in proc.stdout


def test_target_fragment_syntax():
    assert parse_fragment('"example.com".system') == ("example.com", "system")
    assert parse_fragment("computer.\"something.nix\"") == ("computer", "something.nix")
    assert parse_fragment("web1") == ("web1", None)


def test_too_long_and_bad_targets(emu):
    emu.nodes({"web1": "success"})
    proc = emu.run(".#a.b.c")
    assert proc.returncode == 1
    assert strip_ansi(proc.stdout).strip().endswith(
        "Error parsing flake: The given path was too long, did you mean to put something in quotes?")
    proc = emu.run("-s", ".#nope")
    assert proc.returncode == 1 and strip_ansi(proc.stdout).strip().endswith("No node named `nope` was found")
    proc = emu.run("-s", ".#web1.home")
    assert strip_ansi(proc.stdout).strip().endswith("No profile named `home` was found")


# ---------------------------------------------------------------- format and streams

def test_every_record_follows_the_reference_format(emu):
    emu.nodes({"web1": "success", "web2": "activation-fails"})
    proc = emu.run("-d", "--targets", ".#web1", ".#web2")
    records = [line for line in proc.stdout.splitlines() if "] [" in line and line[:1] in "🚀⭐👀↩"]
    assert records
    ansi = re.compile(r"^\S+ \S+ \[(deploy|activate|wait|revoke)\] \[\x1b\[38;5;(196|208|51|7|8)m"
                      r"(ERROR|WARN|INFO|DEBUG|TRACE)\x1b\[0m\] ")
    for line in records:
        assert ansi.match(line), line
        assert LOG_RE.match(strip_ansi(line)), line
    # level emojis carry U+FE0F where deploy-rs has it
    assert "🚀 ℹ️ [deploy]" in strip_ansi(proc.stdout) and "↩️ ⚠️ [revoke]" in strip_ansi(proc.stdout)


def test_logs_on_stderr_prompt_and_log_path_on_stdout(emu, tmp_path):
    emu.nodes({"web1": "success"})
    proc = emu.run("-s", "-i", "--log-dir", str(tmp_path / "logs"), ".#web1", stdin="yes\n", merged=False)
    assert proc.returncode == 0
    assert proc.stdout.startswith("Log is written to ") and "\n> Log is written to " in proc.stdout
    assert re.search(r"Log is written to \S+/activate_activate_[\d_-]+\.log\n", proc.stdout)  # relayed from the target
    assert re.search(r"Log is written to \S+/activate_wait_[\d_-]+\.log\n", proc.stdout)
    assert "[deploy]" not in proc.stdout and "Deployment confirmed." in proc.stderr
    log = next((tmp_path / "logs").glob("deploy_*.log")).read_text()
    assert "INFO [deploy::deploy] Deployment confirmed." in log
    assert "DEBUG [deploy::cli] Checking for flake support" in log


def test_stages_strictly_sequential(emu):
    emu.nodes({"a": "success", "b": "success"})
    proc = emu.run("--targets", ".#a", ".#b")
    records = [LOG_RE.match(strip_ansi(line)) for line in proc.stdout.splitlines()]
    msgs = [m.group(3) for m in records if m and m.group(1) == "deploy"]
    steps = ("Running", "Evaluating", "Building", "Copying", "Activating")
    order = [m.split(" ")[0] for m in msgs if m.startswith(steps)]
    assert order == ["Running", "Running", "Evaluating", "Evaluating", "Building", "Building", "Copying", "Copying",
                     "Activating", "Activating"]


# ---------------------------------------------------------------- scenarios through the parser

@pytest.mark.parametrize("scenario, args, outcome, rollback", [
    ("success", [], "succeeded", None),
    ("activation-fails", [], "rolled_back", "auto"),
    ("magic-timeout", [], "rolled_back", "magic"),
    ("breaks-ssh", [], "rolled_back", "magic"),
    ("magic-timeout-lost", [], "failed", None),
    # deploy-rs gives up; the target's own rollback after its exit decides (the parser follows it)
    ("activation-timeout", [], "rolled_back", "magic"),
    ("build-fails", [], "failed", None),
    ("push-fails", [], "failed", None),
    ("check-fails", [], "not_deployed", None),
    ("eval-fails", [], "not_deployed", None),
    ("success", ["--dry-activate"], "dry_activated", None),
    ("success", ["--boot"], "succeeded", None),
    ("success", ["--magic-rollback", "false"], "succeeded", None),
    ("activation-fails", ["--auto-rollback", "false"], "failed", None),
    ("activation-fails", ["--dry-activate"], "dry_activated", None),  # dry activation ignores the script's status
])
def test_scenarios_parse_to_honest_outcomes(emu, scenario, args, outcome, rollback):
    emu.nodes({"web1": {"scenario": scenario, "activation_timeout": 5}})
    proc = emu.run(*args, ".#web1.system")
    _p, events = parse(proc, [WEB1], dry_activate="--dry-activate" in args)
    assert final(events) == {WEB1: outcome}, proc.stdout
    kinds = [e.rollback_kind for e in events if isinstance(e, Rollback)]
    assert kinds == ([rollback] if rollback else [])
    assert proc.returncode == (0 if outcome in ("succeeded", "dry_activated") else 1)
    assert events[-1].outcome == ("succeeded" if proc.returncode == 0 else "failed")


def test_magic_timeout_prints_panic_noise_and_confirm_window(emu):
    emu.nodes({"web1": {"scenario": "magic-timeout", "confirm_timeout": 45}})
    proc = emu.run(".#web1")
    assert re.search(r"\n\nthread 'tokio-runtime-worker' \(\d+\) panicked at src/deploy.rs:490:41:\n", proc.stdout)
    assert "Deployment confirmed." not in proc.stdout and "Connection timed out" in proc.stdout
    assert "RecvError(())" in proc.stdout
    _p, events = parse(proc, [WEB1], confirm_timeouts={WEB1: 45})
    assert [e.seconds for e in events if isinstance(e, ConfirmWindow)] == [45]
    assert not any(isinstance(e, Output) and e.line.startswith("thread '") for e in events)


def test_several_nodes_revoke_earlier_ones(emu):
    emu.nodes({"web1": "success", "web2": "success", "db1": "activation-fails"})
    proc = emu.run("--targets", ".#web1", ".#web2", ".#db1")
    assert proc.returncode == 1
    last = strip_ansi(proc.stdout).rstrip()
    assert last.endswith("Deployment to node db1 failed, rolled back to previous generation")
    _p, events = parse(proc)
    assert final(events) == {WEB1: "rolled_back", ("web2", "system"): "rolled_back", ("db1", "system"): "rolled_back"}
    assert [(e.node, e.rollback_kind) for e in events if isinstance(e, Rollback)] == [
        ("db1", "auto"), ("web1", "revoke"), ("web2", "revoke")]


def test_rollback_succeeded_false_keeps_earlier_nodes(emu):
    emu.nodes({"web1": "success", "db1": "activation-fails"})
    proc = emu.run("--rollback-succeeded", "false", "--targets", ".#web1", ".#db1")
    assert "Revoking previous deploys" not in proc.stdout
    assert ("Failed to deploy profile to node db1: Activating over SSH resulted in a bad exit code: Some(1)"
            in proc.stdout)
    _p, events = parse(proc)
    assert final(events) == {WEB1: "succeeded", ("db1", "system"): "rolled_back"}


def test_whole_flake_multi_profile_and_random_order(emu):
    emu.nodes({"a": {"profiles": ["system", "home"]}, "b": "success", "c": "success"}, random_order=True)
    orders = set()
    for _ in range(6):
        proc = emu.run("-s", ".")
        _p, events = parse(proc)
        assert set(final(events).values()) == {"succeeded"} and len(final(events)) == 4
        orders.add(tuple(dict.fromkeys(e.node for e in events if isinstance(e, NodeResult))))
    assert len(orders) > 1  # HashMap order changes between runs


# ---------------------------------------------------------------- --interactive (§5.1)

@pytest.mark.parametrize("answer, outcome, extra", [
    ("yes\n", "succeeded", None),
    ("YES\n", "succeeded", None),
    ("1\n", "succeeded", None),
    ("Y\nyes\n", "succeeded", "Sounds like you might want to continue"),
    ("Y\nY\n", "not_deployed", "Sounds like you might want to continue"),
    ("no\n", "not_deployed", None),
    ("maybe\n", "not_deployed", "That was unclear, but sounded like a no to me."),
    ("", "not_deployed", "That was unclear"),
])
def test_interactive_prompt(emu, answer, outcome, extra):
    emu.nodes({"web1": "success"})
    proc = emu.run("-s", "-i", ".#web1", stdin=answer)
    _p, events = parse(proc, [WEB1])
    assert final(events) == {WEB1: outcome}
    prompts = [e for e in events if isinstance(e, Prompt)]
    assert prompts and prompts[0].plan[0].node == "web1" and prompts[0].plan[0].hostname == "web1.lab"
    if extra:
        assert extra in proc.stdout
    if outcome == "not_deployed":
        assert proc.returncode == 1 and events[-1].outcome == "cancelled"
        assert strip_ansi(proc.stdout).rstrip().endswith("User cancelled deployment")


def test_yn_rules():
    assert [_yn(a) for a in ("y", "yes", "YES", "true", "1", "ok yes")] == ["yes"] * 6
    assert [_yn(a) for a in ("Y", "ok y", "Yes!")] == ["maybe", "maybe", "yes"]
    assert [_yn(a) for a in ("n", "no", "NO", "0", "false")] == ["no"] * 5
    assert [_yn(a) for a in ("", "maybe", "nope")] == ["unclear"] * 3


# ---------------------------------------------------------------- orphans, hangs, sudo on the tty

def test_orphaned_wait_line_after_exit_keeps_the_pipe_open(emu):
    emu.nodes({"web1": {"scenario": "activation-fails", "orphan_late_line": True}}, orphan_seconds=1.0)
    proc = subprocess.Popen([emu.deploy, "-s", ".#web1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=emu.env)
    started = time.monotonic()
    assert proc.wait(timeout=30) == 1
    exited = time.monotonic()
    rest = proc.stdout.read()  # EOF only when the orphan exits
    assert time.monotonic() - exited >= 0.5
    late = strip_ansi(rest.decode()).splitlines()[-1]
    assert late == "👀 ❌ [wait] [ERROR] Error waiting for activation: Timeout elapsed for confirmation"
    assert exited - started < 20


def test_hang_is_silent_until_killed(emu):
    emu.nodes({"web1": {"scenario": "hang", "hang_stage": "push"}})
    proc = subprocess.Popen([emu.deploy, "-s", ".#web1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=emu.env)
    seen = b""
    deadline = time.monotonic() + 20
    while b"Copying profile" not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 1.0)
        if ready:
            seen += os.read(proc.stdout.fileno(), 4096)
    assert b"Copying profile `system` to node `web1`" in seen
    ready, _, _ = select.select([proc.stdout], [], [], 0.5)
    assert not ready and proc.poll() is None  # silent, still running
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == -signal.SIGINT
    proc.stdout.close()


def test_interactive_sudo_without_terminal_is_silent(emu):
    emu.nodes({"web1": {"interactive_sudo": True}})
    proc = emu.run("-s", ".#web1")
    out = strip_ansi(proc.stdout)
    assert "Interactive sudo is enabled! Using a sudo password is less secure than correctly configured SSH keys.\n" \
           "Please use keys in production environments." in out
    assert "You will now be prompted for the sudo password for web1.lab." in out
    assert "(sudo for" not in out and proc.returncode == 0


def test_interactive_sudo_prompt_on_the_terminal(emu):
    emu.nodes({"web1": {"interactive_sudo": True, "sudo_password": "s3cret"}})
    pid, fd = pty.fork()
    if pid == 0:  # child: the pty is its controlling terminal, /dev/tty reaches it
        os.execve(emu.deploy, [emu.deploy, "-s", ".#web1"], emu.env)
    out = b""
    deadline = time.monotonic() + 30
    answered = False
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
        if not answered and b"(sudo for web1.lab) Password: " in out:
            os.write(fd, b"s3cret\n")
            answered = True
    reaped, status = os.waitpid(pid, os.WNOHANG)
    until = time.monotonic() + 10
    while reaped == 0 and time.monotonic() < until:  # bounded wait for the child's exit
        time.sleep(0.02)
        reaped, status = os.waitpid(pid, os.WNOHANG)
    if reaped == 0:  # never block the suite on a stuck child
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    os.close(fd)
    text = out.decode(errors="replace")
    assert answered and os.waitstatus_to_exitcode(status) == 0, text
    assert "s3cret" not in text  # echo off
    assert "Deployment confirmed." in text


# ---------------------------------------------------------------- the simulated lab (LABTUI_SIM_LAB)

def _lab(tmp_path, next_deploy="ok"):
    lab = SimLab(tmp_path / "lab")
    old = fake_store_path("nixos-system-web1-24.05.1")
    lab.save(SimHost(name="web1", generations=[Generation(7, "2026-11-01T00:00:00Z", old, "24.05", "6.6.30")],
                     current=7, booted=7, flake_path=fake_store_path("nixos-system-web1-24.05.2"),
                     next_deploy=next_deploy))
    return lab


@pytest.mark.parametrize("next_deploy, args, current, generations, outcome", [
    ("ok", [], 8, [7, 8], "succeeded"),
    ("ok", ["--boot"], 7, [7, 8], "succeeded"),
    ("ok", ["--dry-activate"], 7, [7], "dry_activated"),
    ("activation-fails", [], 7, [7], "rolled_back"),
    ("breaks-ssh", [], 7, [7], "rolled_back"),
    ("build-fails", [], 7, [7], "failed"),
    ("push-fails", [], 7, [7], "failed"),
])
def test_lab_state_follows_the_deploy(emu, tmp_path, next_deploy, args, current, generations, outcome):
    lab = _lab(tmp_path, next_deploy)
    env = {**os.environ, "LABTUI_SIM_LAB": str(lab.root), "LABTUI_SIM_TIME_SCALE": "0"}
    env.pop("LABTUI_SIM_SCENARIO", None)
    proc = emu.run("-s", *args, ".#web1", env=env)
    _p, events = parse(proc, dry_activate="--dry-activate" in args)
    assert final(events) == {WEB1: outcome}, proc.stdout
    host = lab.load("web1")
    assert host.current == current and [g.number for g in host.generations] == generations
    if current == 8:
        assert host.generation(8).path == host.flake_path
        assert host.generation(8).nixos_version == "24.05.2"  # what the new system's nixos-version says
    # the plan shows the lab's closure
    assert "activatable-nixos-system-web1-24.05.2" in proc.stdout


def test_lab_revoke_restores_earlier_node(emu, tmp_path):
    lab = _lab(tmp_path)
    host = lab.load("web1")
    host.name = "db1"
    host.next_deploy = "activation-fails"
    lab.save(host)
    env = {**os.environ, "LABTUI_SIM_LAB": str(lab.root), "LABTUI_SIM_TIME_SCALE": "0"}
    env.pop("LABTUI_SIM_SCENARIO", None)
    proc = emu.run("-s", "--targets", ".#web1", ".#db1", env=env)
    assert proc.returncode == 1
    assert lab.load("web1").current == 7 and [g.number for g in lab.load("web1").generations] == [7]
    assert "Removing generation by ID 8" in strip_ansi(proc.stdout)


def test_missing_configuration_is_one_clear_line(tmp_path):
    bin_dir = install_emulators(tmp_path / "bin")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABTUI_SIM")}
    proc = subprocess.run([str(bin_dir / "deploy"), "."], capture_output=True, text=True, env=env, timeout=30)
    assert proc.returncode == 1 and "LABTUI_SIM_SCENARIO" in proc.stderr and len(proc.stderr.splitlines()) == 1


def test_wrappers_use_this_interpreter(tmp_path):
    bin_dir = install_emulators(tmp_path / "bin")
    for name in ("deploy", "nixos-rebuild"):
        path = Path(bin_dir) / name
        assert os.access(path, os.X_OK) and path.read_text().startswith(f"#!{sys.executable}\n")


def test_lab_next_deploy_wins_over_the_scenario_file(emu, tmp_path):
    lab = _lab(tmp_path, "ok")
    emu.nodes({"web1": {"scenario": "build-fails", "hostname": "10.0.0.11"}})
    env = {**emu.env, "LABTUI_SIM_LAB": str(lab.root)}
    proc = emu.run("-s", ".#web1", env=env)
    assert proc.returncode == 0 and "hostname = \"10.0.0.11\"" in proc.stdout
    with lab.update("web1") as host:
        host.next_deploy = "activation-fails"
    _p, events = parse(emu.run("-s", ".#web1", env=env))
    assert final(events) == {WEB1: "rolled_back"}


# ---------------------------------------------------------------- the emulator against the hand-written transcripts
# (and against the real deploy-rs: tests/deploy/test_emulators_vs_real.py, which wins where they differ: the magic
# timeout prints no `Deployment confirmed.`, the activation timeout's target goes on after deploy-rs's exit)

LOGS = Path(__file__).parent / "logs"


def records(text: str) -> list[tuple[str, str, str]]:
    """The deploy-rs log records of an output, with numbers blanked (generations differ)."""
    out = []
    for line in text.splitlines():
        clean = strip_ansi(line)
        while clean.startswith("> "):
            clean = clean[2:]
        m = LOG_RE.match(clean)
        if m:
            out.append((m.group(1), m.group(2), re.sub(r"\d+", "N", m.group(3).rstrip())))
    return out


@pytest.mark.parametrize("transcript, nodes, args, stdin", [
    ("success-magic", {"web1": "success"}, [".#web1.system"], ""),
    ("activation-fails-auto-rollback", {"web1": "activation-fails"}, ["-s", ".#web1"], ""),
    ("session-lost", {"gw": "magic-timeout-lost"}, ["-s", ".#gw"], ""),
    ("build-fails", {"web1": "success", "web2": "build-fails"}, ["-s", "."], ""),  # whole flake: one eval
    ("push-fails", {"web1": "push-fails"}, ["-s", ".#web1"], ""),
    ("check-fails", {"web1": "check-fails"}, [".#web1"], ""),
    ("eval-fails", {"web1": "eval-fails"}, ["-s", ".#web1"], ""),
    ("dry-activate", {"web2": "success", "web1": "success"}, ["-s", "--dry-activate", "."], ""),
    ("boot", {"db1": "success"}, ["-s", "--boot", ".#db1"], ""),
    ("multi-node-revoke", {"web1": "success", "web2": "success", "db1": "activation-fails"},
     ["--targets", ".#web1", ".#web2", ".#db1"], ""),
    ("no-auto-rollback", {"web1": "activation-fails"},
     ["-s", "--auto-rollback", "false", "--magic-rollback", "false", ".#web1"], ""),
    ("interactive-declined", {"web1": "success"}, ["-i", ".#web1"], "maybe\n"),
])
def test_emulator_prints_the_transcripts_records(emu, transcript, nodes, args, stdin):
    emu.nodes(nodes)
    proc = emu.run(*args, stdin=stdin)
    expected = records((LOGS / f"{transcript}.log").read_text(encoding="utf-8"))
    # the transcripts leave out what a real run prints later (the orphaned `[wait]` line)
    late_wait = transcript.startswith("activation-fails")
    expected = [r for r in expected if not (r[0] == "wait" and r[1] == "ERROR" and late_wait)]
    assert records(proc.stdout) == expected


def test_every_builder_option_is_accepted_by_the_emulated_cli(emu, tmp_path):
    from labtui.deploy.commands import DeployRsOptions, deploy_rs_argv

    emu.nodes({"web1": "success", "example.com": "success"})
    options = DeployRsOptions(skip_checks=True, checksigs=True, debug_logs=True, keep_result=True,
                              result_path=str(tmp_path / "gc"), log_dir=str(tmp_path / "logs"), confirm_timeout=60,
                              activation_timeout=300, magic_rollback=True, auto_rollback=True, rollback_succeeded=True,
                              fast_connection=False, interactive_sudo=False, ssh_user="deploy", profile_user="root",
                              hostname="10.9.9.9", ssh_opts="-p 2222 -oControlMaster=no",
                              extra_nix_args=["--show-trace"])
    argv = deploy_rs_argv(".", [("web1", "system"), ("example.com", None)], options, program=emu.deploy)
    proc = emu.run(*argv[1:])
    assert proc.returncode == 0, proc.stdout
    _p, events = parse(proc, [("web1", "system"), ("example.com", None)])
    assert final(events) == {WEB1: "succeeded", ("example.com", "system"): "succeeded"}
    assert "--confirm-timeout 60" in proc.stdout and "--activation-timeout 300" in proc.stdout  # debug commands
    assert "to 'ssh://deploy@10.9.9.9'" in proc.stdout
    assert 'ssh_opts = ["-p", "2222", "-oControlMaster=no"]' in proc.stdout


def test_rust_log_and_palette(emu):
    emu.nodes({"web1": "success"})
    proc = emu.run("-s", ".#web1", env={**emu.env, "RUST_LOG": "debug", "FLEXI_LOGGER_PALETTE": "1;2;3;4;5"})
    assert "[\x1b[38;5;3mINFO\x1b[0m] Deployment confirmed." in proc.stdout
    assert "[\x1b[38;5;4mDEBUG\x1b[0m] Checking for flake support" in proc.stdout
