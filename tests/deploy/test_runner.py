"""CommandRunner mechanics with tiny scripts: prompts without newline, answers, orphaned pipes,
sudo passwords through a pty, cancel, stalls. Parser-independent: a recording parser stands in."""

from __future__ import annotations

import asyncio
import sys
import time

import pytest

from labtui.commandlog import CommandLog
from labtui.deploy.runner import CommandRunner, RunnerTimings
from labtui.runs.events import Output, RunResult, Stall


class RecordingParser:
    """Every line becomes an output event; `> ` sets awaiting_answer like deploy-rs's prompt."""

    follow_after_exit: float | None = None

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.awaiting_answer = False
        self.finished: tuple[int | None, bool] | None = None

    def feed(self, line: str, ts: float):
        self.lines.append(line)
        if line == "> ":
            self.awaiting_answer = True
        return [Output(ts=ts, node=None, stage=None, line=line)]

    def mark_answered(self) -> None:
        self.awaiting_answer = False

    def finish(self, exit_code, ts, *, cancelled=False):
        self.finished = (exit_code, cancelled)
        outcome = "cancelled" if cancelled else ("succeeded" if exit_code == 0 else "failed")
        return [RunResult(ts=ts, outcome=outcome, exit_code=exit_code)]


def py(script: str) -> list[str]:
    return [sys.executable, "-c", script]


async def collect(runner: CommandRunner, on_event=None):
    events = []
    async for event in runner.events():
        events.append(event)
        if on_event:
            await on_event(event)
    return events


async def test_lines_exit_code_and_command_log():
    log = CommandLog()
    parser = RecordingParser()
    runner = CommandRunner(py("import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"), parser,
                           command_log=log, extra_env={"LABTUI_X": "1"})
    events = await collect(runner)
    assert sorted(parser.lines) == ["err", "out"]
    assert events[-1] == RunResult(ts=events[-1].ts, outcome="failed", exit_code=3)
    assert log.records()[-1].command.startswith("LABTUI_X=1 ")


async def test_prompt_without_newline_is_surfaced_and_answered():
    script = ("import sys\nsys.stdout.write('plan\\n> '); sys.stdout.flush()\n"
              "answer = sys.stdin.readline().strip()\nprint('answer was', answer)")
    parser = RecordingParser()
    runner = CommandRunner(py(script), parser, timings=RunnerTimings(quiet_flush=0.05))

    async def on_event(event):
        if parser.awaiting_answer:
            runner.answer("yes")

    await collect(runner, on_event)
    assert parser.lines == ["plan", "> ", "answer was yes"]
    assert parser.finished == (0, False)


async def test_result_comes_soon_after_exit_while_an_orphan_holds_the_pipe():
    # The child sleeps 30 s holding the inherited stdout/stderr, like deploy-rs's orphaned `wait` ssh.
    script = ("import subprocess, sys\n"
              "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30); print(\"late\")'])\n"
              "print('done', flush=True)")
    parser = RecordingParser()
    raw: list[str] = []
    runner = CommandRunner(py(script), parser, on_raw=raw.append, timings=RunnerTimings(late_output=0.5))
    started = time.monotonic()
    events = await collect(runner)
    assert time.monotonic() - started < 2.5
    assert isinstance(events[-1], RunResult) and events[-1].exit_code == 0
    # The orphan is ended after the late-output window; its pipe is closed.
    await asyncio.wait_for(runner.late_output_done.wait(), 10)
    assert "late" not in "".join(raw)


async def test_late_output_after_exit_is_logged_but_not_parsed():
    script = ("import subprocess, sys\n"
              "subprocess.Popen([sys.executable, '-c', 'import sys; sys.stdin.read(); print(\"late line\")'],"
              " stdin=subprocess.PIPE)\n")  # the child prints when its stdin (our pipe) closes: at our exit
    parser = RecordingParser()
    raw: list[str] = []
    runner = CommandRunner(py(script), parser, on_raw=raw.append, timings=RunnerTimings(exit_drain=0.0))
    await collect(runner)
    await asyncio.wait_for(runner.late_output_done.wait(), 10)
    assert "late line" in "".join(raw)
    assert "late line" not in parser.lines


class FollowingParser(RecordingParser):
    """Follows the program's orphan after the exit until it prints END (like a deploy-rs target after the
    activation timeout)."""

    def __init__(self, bound: float) -> None:
        super().__init__()
        self.bound = bound
        self.lines_at_finish: list[str] | None = None

    @property
    def follow_after_exit(self) -> float | None:  # type: ignore[override]
        return None if "END" in self.lines else self.bound

    def finish(self, exit_code, ts, *, cancelled=False):
        self.lines_at_finish = list(self.lines)
        return super().finish(exit_code, ts, cancelled=cancelled)


# A child that holds our pipe and prints when its stdin (a pipe from its parent) closes, i.e. at the parent's exit.
ORPHAN = ("import subprocess, sys\n"
          "subprocess.Popen([sys.executable, '-c', {child!r}], stdin=subprocess.PIPE)\n"
          "print('parent done', flush=True)\n")


async def test_after_the_exit_the_parser_follows_what_the_program_left_running():
    child = "import sys; sys.stdin.read(); print('target still going', flush=True); print('END', flush=True)"
    parser = FollowingParser(bound=30.0)
    runner = CommandRunner(py(ORPHAN.format(child=child)), parser, timings=RunnerTimings(exit_drain=0.0))
    events = await collect(runner)
    # (under load the orphan may be done before the exit is handled: then there is nothing left to follow)
    assert parser.lines_at_finish == ["parent done", "target still going", "END"]
    assert isinstance(events[-1], RunResult) and events[-1].exit_code == 0


async def test_the_follow_after_the_exit_is_bounded():
    child = "import sys, time; sys.stdin.read(); print('target still going', flush=True); time.sleep(30)"
    parser = FollowingParser(bound=0.5)
    runner = CommandRunner(py(ORPHAN.format(child=child)), parser, timings=RunnerTimings(exit_drain=0.0,
                                                                                          late_output=0.2))
    started = time.monotonic()
    events = await collect(runner)
    assert time.monotonic() - started < 5
    assert parser.lines_at_finish is not None and "END" not in parser.lines_at_finish
    notes = [e.line for e in events if isinstance(e, Output) and e.source == "labtui"]
    assert len(notes) == 1 and "following it until it ends (at most 0 s)" in notes[0]
    assert isinstance(events[-1], RunResult)
    await asyncio.wait_for(runner.late_output_done.wait(), 10)  # the orphan is ended afterwards


SUDO_SCRIPT = r"""
import os
fd = os.open("/dev/tty", os.O_RDWR)
os.write(fd, b"(sudo for web1.lab) Password: ")
password = b""
while not password.endswith(b"\n"):
    password += os.read(fd, 100)
ok = password.strip() == b"hunter2-secret"
print("password accepted" if ok else "password wrong", flush=True)
"""


async def test_sudo_password_through_the_pty_is_never_logged():
    asked: list[str] = []

    async def ask(hostname: str) -> str:
        asked.append(hostname)
        return "hunter2-secret"

    parser = RecordingParser()
    raw: list[str] = []
    runner = CommandRunner(py(SUDO_SCRIPT), parser, use_pty=True, ask_password=ask, on_raw=raw.append)
    events = await collect(runner)
    assert asked == ["web1.lab"]
    assert "password accepted" in parser.lines
    everything = "".join(raw) + repr([e.to_dict() for e in events])
    assert "hunter2" not in everything


async def test_nixos_rebuild_ng_sudo_prompt_is_answered_for_its_host():
    """nixos-rebuild-ng --ask-sudo-password asks `[sudo] password for user@host: ` with getpass, on the terminal."""
    script = SUDO_SCRIPT.replace("(sudo for web1.lab) Password: ", "[sudo] password for deploy@web1.lab: ")
    asked: list[str] = []

    async def ask(hostname: str) -> str:
        asked.append(hostname)
        return "hunter2-secret"

    parser = RecordingParser()
    raw: list[str] = []
    runner = CommandRunner(py(script), parser, use_pty=True, ask_password=ask, on_raw=raw.append)
    await collect(runner)
    assert asked == ["web1.lab"] and "password accepted" in parser.lines
    assert "hunter2" not in "".join(raw)


async def test_sudo_password_refused_cancels():
    async def ask(hostname: str) -> None:
        return None

    parser = RecordingParser()
    runner = CommandRunner(py(SUDO_SCRIPT), parser, use_pty=True, ask_password=ask,
                           timings=RunnerTimings(cancel_grace=(2.0, 2.0)))
    events = await collect(runner)
    assert events[-1].outcome == "cancelled"


async def test_cancel_escalates_to_sigkill_and_records_cancelled():
    # Ignores SIGINT and SIGTERM: only SIGKILL ends it.
    script = ("import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
              "signal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('ready', flush=True)\ntime.sleep(60)")
    parser = RecordingParser()
    runner = CommandRunner(py(script), parser, timings=RunnerTimings(cancel_grace=(0.2, 0.2)))

    async def on_event(event):
        if isinstance(event, Output) and event.line == "ready":
            asyncio.get_running_loop().create_task(runner.cancel())

    started = time.monotonic()
    events = await collect(runner, on_event)
    assert time.monotonic() - started < 5
    assert events[-1].outcome == "cancelled"
    assert parser.finished == (None, True)  # killed by a signal: no exit code


async def test_stall_is_reported_once_per_silence():
    script = ("import sys, time\nprint('a', flush=True); time.sleep(0.8)\n"
              "print('b', flush=True); time.sleep(0.8)\nprint('c', flush=True)")
    runner = CommandRunner(py(script), RecordingParser(), timings=RunnerTimings(stall_after=0.4))
    events = await collect(runner)
    stalls = [e for e in events if isinstance(e, Stall)]
    assert len(stalls) == 2
    assert "ControlMaster" in stalls[0].hint
    order = [e.line if isinstance(e, Output) else e.kind for e in events]
    assert order.index("stall") > order.index("a")


async def test_no_stall_while_waiting_for_the_operator():
    script = "import sys\nsys.stdout.write('> '); sys.stdout.flush()\nsys.stdin.readline()"
    parser = RecordingParser()
    runner = CommandRunner(py(script), parser, timings=RunnerTimings(stall_after=0.2, quiet_flush=0.02))
    answered = asyncio.Event()

    async def on_event(event):
        if parser.awaiting_answer and not answered.is_set():
            # Wait well past the stall time before answering.
            asyncio.get_running_loop().call_later(0.8, lambda: (runner.answer("no"), answered.set()))

    events = await collect(runner, on_event)
    assert not [e for e in events if isinstance(e, Stall)]


@pytest.mark.parametrize("argv", [["/nonexistent/deploy"]])
async def test_missing_program_raises(argv):
    runner = CommandRunner(argv, RecordingParser())
    with pytest.raises(FileNotFoundError):
        await collect(runner)


async def test_other_terminal_questions_are_shown():
    """ssh asking for a key passphrase on the pty would hang unseen: it becomes an output line."""
    script = ("import os, time\nfd = os.open('/dev/tty', os.O_RDWR)\n"
              "os.write(fd, b\"Enter passphrase for key '/home/alice/.ssh/id_ed25519': \")\n"
              "print('asked', flush=True)\n"
              "time.sleep(30)")
    runner = CommandRunner(py(script), RecordingParser(), use_pty=True, timings=RunnerTimings(cancel_grace=(1, 1)))

    async def on_event(event):
        if isinstance(event, Output) and event.source == "tty":
            asyncio.get_running_loop().create_task(runner.cancel())

    events = await collect(runner, on_event)
    shown = [e.line for e in events if isinstance(e, Output) and e.source == "tty"]
    assert shown == ["[terminal] Enter passphrase for key '/home/alice/.ssh/id_ed25519':"]
    assert events[-1].outcome == "cancelled"
