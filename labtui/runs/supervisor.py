"""The supervisor process: owns one detached run, so it survives the operator's hang-up.

It is started by `labtui.runs.client.start_supervisor` in a new session (no controlling terminal,
stdio to `supervisor.log`), so a dropped SSH session to the jump host (SIGHUP to labtui) does not reach
it. It builds the run from the payload it was handed (the caller's `build`, e.g. labtui.cli.supervise
for deploys), writes everything down as it happens (`events.jsonl`, `output.log`, the journal), tells
the starting process "started" or the error over an inherited pipe, then runs to the end whatever
happens to the faces.

It knows nothing about deploys: it drives anything with the `SupervisedRun` control surface. Faces
talk to it over a per-run unix socket (JSON lines, `op`: attach, answer, password, cancel, pending).
A face that attaches and then disappears while the run waits for an answer does not leave the run
hanging forever: after `UNATTENDED_GRACE` seconds without any face attached, the question is answered
"no" (nothing deployed) and a password request is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import time
import traceback
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Protocol

from labtui import paths
from labtui.errors import UserError
from labtui.runs.client import PID_FILE, socket_path
from labtui.runs.events import Output, PasswordPrompt, RunEvent, RunResult
from labtui.runs.files import RunFiles, run_dir
from labtui.runs.journal import Journal, RunHeader
from labtui.runs.state import state_error
from labtui.text import harmless

UNATTENDED_GRACE = 60.0  # seconds a question may wait with no face attached before it is declined


class SupervisedRun(Protocol):
    """What the supervisor needs from a run (labtui.deploy.orchestrator.DeployRun has it)."""

    def events(self) -> AsyncIterator[RunEvent]:
        """The run's events, `run_result` last; iterated once."""
        ...

    @property
    def pending_prompts(self) -> list[str]:
        """Jobs waiting for a yes/no answer now."""
        ...

    @property
    def pending_passwords(self) -> list[str]:
        """Hostnames whose sudo password is asked for now."""
        ...

    def answer_prompt(self, yes: bool, node: str | None = None) -> None: ...

    def send_password(self, hostname: str, password: str | None) -> None: ...

    async def cancel(self, node: str | None = None) -> None:
        """Cancel the run, or only `node` (a node that shares its process with others cancels the run)."""
        ...

    async def probe_after(self) -> Sequence[RunEvent]:
        """Events to record once the result is out (e.g. where each node ended up); never raises."""
        ...

    async def wait_late_output(self) -> None:
        """Return once output that arrives after the result (orphaned children) is written; bounded."""
        ...


# Builds the run from the supervisor's files (its raw output goes there), inside the event loop. Raises
# UserError when the run cannot start (e.g. HostLocked): the starting face shows that message.
BuildRun = Callable[[RunFiles], tuple[SupervisedRun, RunHeader]]


class Supervisor:
    def __init__(self, run_id: str, ready_fd: int | None) -> None:
        self.run_id = run_id
        self.ready_fd = ready_fd
        self.faces = 0
        self.run: SupervisedRun | None = None
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

    async def main(self, build: BuildRun) -> int:
        directory = run_dir(self.run_id)
        journal: Journal | None = None
        files: RunFiles | None = None
        try:
            with open(paths.open_private(directory / PID_FILE, os.O_WRONLY | os.O_TRUNC), "w") as pid_file:
                pid_file.write(str(os.getpid()))
            files = RunFiles(self.run_id)
            # The journal first: a full disk, a damaged journal or one locked by another process stops the run
            # before any host lock is taken or anything runs (the face shows the one line saying why).
            journal = Journal.open()
            run, header = build(files)
            journal.begin(self.run_id, header, supervisor_pid=os.getpid())
        except (UserError, OSError) as exc:
            failure = exc if isinstance(exc, UserError) else state_error(exc, directory, "write the run's files in")
            if files is not None:
                files.close()
            if journal is not None:
                journal.close()
            shutil.rmtree(directory, ignore_errors=True)  # nothing ran: no run to show in history
            self.report_ready({"ok": False, "error": failure.message, "exit_code": failure.exit_code})
            return failure.exit_code
        self.run = run
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: loop.create_task(run.cancel()))
        server = await self._serve()
        self.report_ready({"ok": True, "run_id": self.run_id})
        ended = False
        try:
            async for event in run.events():
                if isinstance(event, RunResult):
                    # The journal first: a face that sees the result in the events file and exits (the CLI) must
                    # find the run finished in the journal.
                    journal.record(self.run_id, event)
                    files.event(event)
                else:
                    files.event(event)
                    journal.record(self.run_id, event)
                if isinstance(event, PasswordPrompt) or run.pending_prompts:
                    self._check_unattended()
                ended = isinstance(event, RunResult)
        except Exception as exc:  # record it: nothing about a run may be lost
            traceback.print_exc()
            if not ended:
                now = time.time()
                error = Output(ts=now, node=None, stage=None, line=f"labtui: internal error: {exc}", source="raw")
                for final in (error, RunResult(ts=now, outcome="failed", exit_code=1)):
                    files.event(final)
                    journal.record(self.run_id, final)
        finally:
            server.close()
            with contextlib.suppress(OSError):
                socket_path(self.run_id).unlink()
            await self._disconnect_faces()
            # After the result (faces are not kept waiting): e.g. where each node ended up, for the journal.
            with contextlib.suppress(Exception):
                for late in await run.probe_after():
                    files.event(late)
                    journal.record(self.run_id, late)
            with contextlib.suppress(Exception):
                await run.wait_late_output()
            files.close()
            journal.close()
        return 0

    async def _serve(self) -> asyncio.AbstractServer:
        path = socket_path(self.run_id)
        paths.private_dir(path.parent, base=paths.runtime_dir())
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
                    node = message.get("node")
                    asyncio.get_running_loop().create_task(run.cancel(node if isinstance(node, str) else None))
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


def run_supervisor(run_id: str, ready_fd: int | None, build: BuildRun) -> int:
    """The supervisor process's body: detach from the starting process, then run `build`'s run to its end."""
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # belt and braces: we have no terminal anyway
    if os.fork() != 0:
        # Daemonize: the starting labtui reaps this first process at once; the supervisor lives on as
        # an orphan of init, so it never lingers as a zombie of a face (which would look alive).
        os._exit(0)
    supervisor = Supervisor(run_id, ready_fd)
    try:
        return asyncio.run(supervisor.main(build))
    except BaseException as exc:
        # The traceback goes to the log (stderr): the face adds the log's path to this line.
        supervisor.report_ready({"ok": False, "error": f"the deploy supervisor failed: {harmless(str(exc))}",
                                 "exit_code": 1, "see_log": True})
        raise
