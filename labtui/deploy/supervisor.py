"""Deploys that survive the operator's hang-up: a detached supervisor process owns each run.

`start_detached(request, inventory)` starts `python -m labtui.deploy.supervisor RUN_ID` in a new session
(no controlling terminal, stdio to files), so a dropped SSH session to the jump host (SIGHUP to labtui)
does not reach it. The supervisor takes the host locks, runs the `DeployRun` (deploy-rs processes, parser,
post-node hook), and writes everything down as it happens: `runs/<id>/events.jsonl`, `runs/<id>/output.log`
and the SQLite journal. It tells the starting process "started" or the error (e.g. a host is locked) over
an inherited pipe, then runs to the end whatever happens to the faces.

Faces (the CLI, the TUI, a second labtui started later) follow a run by tailing its events file
(`follow_run`), and talk back over a per-run unix socket in `labtui.paths.runtime_dir()`: yes/no answers
to deploy-rs's question, sudo passwords (memory only, never on disk), cancel. A face that attaches and
then disappears while deploy-rs waits for an answer does not leave the run hanging forever: after
`UNATTENDED_GRACE` seconds without any face attached, the question is answered "no" (nothing deployed)
and a password request is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pickle
import select
import shutil
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from labtui import paths
from labtui.commandlog import COMMAND_LOG
from labtui.deploy.events import Event, Output, RunResult, RunStarted, event_from_dict
from labtui.deploy.journal import Journal, RunFiles, events_path, new_run_id, run_dir
from labtui.deploy.lock import operator_name, pid_alive
from labtui.deploy.orchestrator import DeployRequest, DeployRun, PasswordPrompt, load_hook
from labtui.deploy.runner import RunnerTimings
from labtui.errors import UserError
from labtui.inventory.model import Inventory

UNATTENDED_GRACE = 60.0  # seconds a question may wait with no face attached before it is declined
START_TIMEOUT = 60.0  # seconds to wait for the supervisor to say it started
_SPEC_FILE = "request.pickle"
_PID_FILE = "supervisor.pid"


def socket_path(run_id: str) -> Path:
    return paths.runtime_dir() / "deploy" / f"{run_id}.sock"


def supervisor_pid(run_id: str) -> int | None:
    try:
        return int((run_dir(run_id) / _PID_FILE).read_text())
    except (OSError, ValueError):
        return None


def is_running(run_id: str) -> bool:
    pid = supervisor_pid(run_id)
    return pid is not None and pid_alive(pid)


# ---- the face's side ---------------------------------------------------------------------------------


class DetachedRun:
    """A run owned by a supervisor process; the same control surface as `DeployRun`, over the socket."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id

    async def events(self, *, from_start: bool = True) -> AsyncIterator[Event]:
        """The run's events (from its start), holding an `attach` connection while following."""
        async for event in follow_run(self.run_id, from_start=from_start, attach=True):
            if isinstance(event, RunStarted):
                # The supervisor ran them; this process's command log (the TUI's `@` view) shows them too.
                for argv in event.argvs or ([event.argv] if event.argv else []):
                    COMMAND_LOG.local(argv)
            yield event

    def answer_prompt(self, yes: bool, node: str | None = None) -> None:
        _send(self.run_id, {"op": "answer", "yes": yes, "node": node})

    def send_password(self, hostname: str, password: str | None) -> None:
        _send(self.run_id, {"op": "password", "hostname": hostname, "password": password})

    def cancel(self) -> None:
        _send(self.run_id, {"op": "cancel"})

    def pending(self) -> dict[str, list[str]]:
        """What the run waits for right now: {"prompts": [job...], "passwords": [hostname...]}.

        A face replaying a run's events from the start asks the operator only about these."""
        try:
            reply = _send(self.run_id, {"op": "pending"})
        except UserError:
            return {"prompts": [], "passwords": []}
        return {"prompts": list(reply.get("prompts", [])), "passwords": list(reply.get("passwords", []))}


def _send(run_id: str, message: dict[str, Any]) -> dict[str, Any]:
    import socket

    path = socket_path(run_id)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(str(path))
            sock.sendall(json.dumps(message).encode() + b"\n")
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                reply += chunk
        except OSError as exc:
            raise UserError(f"run {run_id} is not accepting commands ({exc.strerror or exc}); "
                            f"it has probably finished: `labtui history show {run_id}`", exit_code=1) from None
    try:
        return json.loads(reply or b"{}")
    except ValueError:
        return {}


async def follow_run(run_id: str, *, from_start: bool = True, attach: bool = False,
                     poll: float = 0.05) -> AsyncIterator[Event]:
    """The events of a run as they are written, until its `run_result` (also for finished runs).

    Works for any run, whoever started it. If its supervisor died without a result, ends with a
    `run_result` of outcome `failed` (exit code None) after marking the run lost in the journal.
    `attach=True` tells the supervisor a face is watching (see UNATTENDED_GRACE).
    """
    path = events_path(run_id)
    face = await _attach(run_id) if attach else None
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not path.exists():
            if time.monotonic() > deadline or (supervisor_pid(run_id) is not None and not is_running(run_id)):
                raise UserError(f"run {run_id} has no events file {path}; list runs with `labtui history`")
            await asyncio.sleep(poll)
        with open(path, encoding="utf-8") as f:
            if not from_start:
                f.seek(0, os.SEEK_END)
            buffer = ""
            last_check = time.monotonic()
            while True:
                chunk = f.read()
                if not chunk and time.monotonic() - last_check > 1.0:
                    last_check = time.monotonic()
                    # Only a supervisor's run can be lost; other writers (ops actions) have no pid file.
                    if supervisor_pid(run_id) is not None and not is_running(run_id):
                        chunk = f.read()  # its last lines may have landed just now
                        if not chunk:
                            message = "the deploy supervisor died without recording a result"
                            with contextlib.suppress(Exception):
                                journal = Journal.open()
                                journal.mark_lost(run_id, message)
                                journal.close()
                            yield Output(ts=time.time(), node=None, stage=None, line=f"labtui: {message}",
                                         source="raw")
                            yield RunResult(ts=time.time(), outcome="failed", exit_code=None)
                            return
                if chunk:
                    buffer += chunk
                    *lines, buffer = buffer.split("\n")
                    for line in lines:
                        if not line.strip():
                            continue
                        event = event_from_dict(json.loads(line))
                        yield event
                        if isinstance(event, RunResult):
                            return
                    continue
                await asyncio.sleep(poll)
    finally:
        if face is not None:
            face.close()


async def _attach(run_id: str):
    """A connection kept open while a face follows the run (the supervisor counts them)."""
    import socket

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(socket_path(run_id)))
        sock.sendall(b'{"op": "attach"}\n')
    except OSError:
        sock.close()
        return None
    return sock


def start_detached(request: DeployRequest, inventory: Inventory, *, run_id: str | None = None,
                   timings: RunnerTimings | None = None) -> DetachedRun:
    """Start a supervisor for `request` and wait until it runs (or raise its UserError, e.g. HostLocked)."""
    DeployRun(request, inventory, locking=False)  # validate here: errors reach the operator at once
    run_id = run_id or new_run_id()
    directory = run_dir(run_id)
    directory.mkdir(parents=True, exist_ok=True)
    spec = directory / _SPEC_FILE
    fd = os.open(spec, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        pickle.dump({"request": request, "inventory": inventory, "timings": timings}, f)
    ready_r, ready_w = os.pipe()
    log = open(directory / "supervisor.log", "ab")
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "labtui.deploy.supervisor", run_id, "--ready-fd", str(ready_w)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, pass_fds=(ready_w,),
        )
    finally:
        os.close(ready_w)
        log.close()
    try:
        message = _read_ready(ready_r)
    finally:
        os.close(ready_r)
    proc.wait()  # the first process only forks the supervisor (not our child: no zombie if it dies) and exits
    if not message.get("ok"):
        raise UserError(message.get("error") or "the deploy supervisor failed to start; see "
                        f"{directory / 'supervisor.log'}", exit_code=int(message.get("exit_code", 1)))
    return DetachedRun(run_id)


def _read_ready(fd: int) -> dict[str, Any]:
    data = b""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:  # data, or EOF: the supervisor wrote its answer and closed, or died
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            data += chunk
    with contextlib.suppress(ValueError):
        return json.loads(data.decode() or "{}")
    return {}


# ---- the supervisor process --------------------------------------------------------------------------


class _Supervisor:
    def __init__(self, run_id: str, ready_fd: int | None) -> None:
        self.run_id = run_id
        self.ready_fd = ready_fd
        self.faces = 0
        self.run: DeployRun | None = None
        self._unattended: asyncio.TimerHandle | None = None
        self._clients: dict[asyncio.StreamWriter, asyncio.Task[Any]] = {}

    def report_ready(self, message: dict[str, Any]) -> None:
        if self.ready_fd is None:
            return
        with contextlib.suppress(OSError):  # the starting labtui may be gone already: fine
            os.write(self.ready_fd, json.dumps(message).encode())
        with contextlib.suppress(OSError):
            os.close(self.ready_fd)
        self.ready_fd = None

    async def main(self) -> int:
        directory = run_dir(self.run_id)
        (directory / _PID_FILE).write_text(str(os.getpid()))
        spec_path = directory / _SPEC_FILE
        with open(spec_path, "rb") as f:
            spec = pickle.load(f)
        spec_path.unlink()
        request: DeployRequest = spec["request"]
        inventory: Inventory = spec["inventory"]
        files = RunFiles(self.run_id)
        multi = len(request.nodes()) > 1 and not request.atomic
        timings = spec.get("timings") or RunnerTimings(
            stall_after=request.stall_after,
            late_output=float(os.environ.get("LABTUI_LATE_OUTPUT", RunnerTimings.late_output)))
        try:
            post_node = load_hook(request.post_node, inventory, request) if request.post_node else None
            probe = load_hook(request.probe, inventory, request) if request.probe else None
            self.run = run = DeployRun(request, inventory, run_id=self.run_id, post_node=post_node, probe=probe,
                                       timings=timings, on_raw=_raw_writer(files, multi))
            run.acquire_locks()
        except UserError as exc:
            self.report_ready({"ok": False, "error": exc.message, "exit_code": exc.exit_code})
            files.close()
            shutil.rmtree(directory, ignore_errors=True)  # nothing ran: no run to show in history
            return exc.exit_code
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: loop.create_task(run.cancel()))
        server = await self._serve()
        journal = Journal.open()
        journal.begin_run(self.run_id, operator=operator_name(), method=",".join(sorted({j.method for j in run.jobs})),
                          action=request.action, targets=request.targets, flake=run.flake,
                          revision=inventory.revision, dirty=inventory.dirty, argv=run.argvs,
                          supervisor_pid=os.getpid())
        self.report_ready({"ok": True, "run_id": self.run_id})
        ended = False
        try:
            async for event in run.events():
                files.event(event)
                journal.record(self.run_id, event)
                if isinstance(event, (PasswordPrompt,)) or run.pending_prompts:
                    self._check_unattended()
                ended = isinstance(event, RunResult)
        except Exception as exc:  # record it: nothing about a run may be lost
            traceback.print_exc()
            if not ended:
                now = time.time()
                error = Output(ts=now, node=None, stage=None, line=f"labtui: internal error: {exc}", source="raw")
                for event in (error, RunResult(ts=now, outcome="failed", exit_code=1)):
                    files.event(event)
                    journal.record(self.run_id, event)
        finally:
            server.close()
            with contextlib.suppress(OSError):
                socket_path(self.run_id).unlink()
            await self._disconnect_faces()
            # After the result (faces are not kept waiting): where each node ended up, for the journal.
            with contextlib.suppress(Exception):
                for event in await run.probe_after():
                    files.event(event)
                    journal.record(self.run_id, event)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(run.wait_late_output(), run.timings.late_output + 5)
            files.close()
            journal.close()
        return 0

    async def _serve(self) -> asyncio.AbstractServer:
        path = socket_path(self.run_id)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        server = await asyncio.start_unix_server(self._client, path=str(path))
        os.chmod(path, 0o600)  # only this operator's processes may answer or send passwords
        return server

    async def _disconnect_faces(self) -> None:
        """Close the faces' connections so their handlers end cleanly (their follow ends at run_result)."""
        for writer in list(self._clients):
            writer.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.gather(*self._clients.values(), return_exceptions=True), 2)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients[writer] = task
        attached = False
        try:
            while line := await reader.readline():
                message = json.loads(line)
                op = message.get("op")
                run = self.run
                assert run is not None
                if op == "attach":
                    attached = True
                    self.faces += 1
                    if self._unattended:
                        self._unattended.cancel()
                        self._unattended = None
                    continue  # no reply: the connection stays open while the face follows
                if op == "answer":
                    run.answer_prompt(bool(message.get("yes")), message.get("node"))
                elif op == "password":
                    run.send_password(str(message.get("hostname")), message.get("password"))
                elif op == "cancel":
                    asyncio.get_running_loop().create_task(run.cancel())
                reply: dict[str, Any] = {"ok": True}
                if op == "pending":
                    reply.update(prompts=run.pending_prompts, passwords=run.pending_passwords)
                del message
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, ValueError):
            pass
        finally:
            self._clients.pop(writer, None)
            if attached:
                self.faces -= 1
                self._check_unattended()
            writer.close()

    def _check_unattended(self) -> None:
        """With no face attached, a pending question is declined after UNATTENDED_GRACE seconds."""
        run = self.run
        if run is None or self.faces > 0 or self._unattended is not None:
            return
        if not (run.pending_prompts or run.pending_passwords):
            return
        grace = float(os.environ.get("LABTUI_UNATTENDED_GRACE", UNATTENDED_GRACE))
        self._unattended = asyncio.get_running_loop().call_later(grace, self._decline)

    def _decline(self) -> None:
        self._unattended = None
        run = self.run
        if run is None or self.faces > 0:
            return
        if run.pending_prompts:
            run.answer_prompt(False)
        for hostname in run.pending_passwords:
            run.send_password(hostname, None)


def _raw_writer(files: RunFiles, prefix_lines: bool):
    """Raw output to output.log; with several processes, each line is prefixed with its node."""
    partial: dict[str, str] = {}

    def write(job: str, text: str) -> None:
        if not prefix_lines:
            files.raw(text)
            return
        text = partial.pop(job, "") + text
        *lines, rest = text.split("\n")
        if rest:
            partial[job] = rest
        if lines:
            files.raw("".join(f"{job} | {line}\n" for line in lines))

    return write


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m labtui.deploy.supervisor")
    parser.add_argument("run_id")
    parser.add_argument("--ready-fd", type=int)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # belt and braces: we have no terminal anyway
    if os.fork() != 0:
        # Daemonize: the starting labtui reaps this first process at once; the supervisor lives on as
        # an orphan of init, so it never lingers as a zombie of a face (which would look alive).
        os._exit(0)
    supervisor = _Supervisor(args.run_id, args.ready_fd)
    try:
        return asyncio.run(supervisor.main())
    except BaseException as exc:
        supervisor.report_ready({"ok": False, "error": f"the deploy supervisor failed: {exc}", "exit_code": 1})
        raise


if __name__ == "__main__":
    sys.exit(main())
