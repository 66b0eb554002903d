"""The supervisor process: owns one detached run, so it survives the operator's hang-up.

It is started by `labtui.runs.client.start_supervisor` in a new session (no controlling terminal,
stdio to `supervisor.log`), so a dropped SSH session to the jump host (SIGHUP to labtui) does not reach
it. It builds the run from the payload it was handed (the caller's `build`, e.g. labtui.cli.supervise
for deploys), takes what the run needs before it starts (`prepare`: host locks), tells the starting process
"started" or the error over an inherited pipe, then runs to the end whatever happens to the faces.

Every event is kept in memory and handed to a `RunRecorder` (labtui.runs.recorder), which writes it to the run's
files and the journal as soon as they take it: a full disk or a journal locked by another process never stops
the run nor changes its outcome. Faces follow the run over a per-run unix socket: `follow` sends them every event
from memory (from the start, or from where they were), then each new one, up to `run_result`; so they show the
true outcome even when nothing could be written. After the run, the supervisor lives on until its record is
written (or `patience()` runs out), still serving the events.

It knows nothing about deploys: it drives anything with the `SupervisedRun` control surface. The socket's other
ops (JSON lines): answer, password, cancel, pending; `attach` (older faces) only counts a face.
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
from labtui.runs.files import RawSink, run_dir
from labtui.runs.journal import Journal, RunHeader
from labtui.runs.lost import settle_lost_runs
from labtui.runs.process import ProcessId
from labtui.runs.recorder import RunRecorder
from labtui.runs.state import state_error
from labtui.text import harmless

UNATTENDED_GRACE = 60.0  # seconds a question may wait with no face attached before it is declined
FACE_BACKLOG = 8 * 1024 * 1024  # bytes a face may fall behind before the supervisor waits for it to read
RESULT_GRACE = 3.0  # seconds a face's run_result waits for the journal to have it (see _follow)


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

    async def prepare(self) -> None:
        """Take what the run needs before it starts (e.g. the hosts' remote deploy locks); UserError when it cannot
        start (HostLocked). Whatever it took is released when `events()` ends (or by `release`)."""
        ...

    async def release(self) -> None:
        """Give back what `prepare` took when the run never started (`events()` does it otherwise)."""
        ...


# Builds the run, writing its raw output to the sink, inside the event loop. Raises UserError when the run
# cannot start (e.g. HostLocked): the starting face shows that message.
BuildRun = Callable[[RawSink], tuple[SupervisedRun, RunHeader]]


class Supervisor:
    def __init__(self, run_id: str, ready_fd: int | None) -> None:
        self.run_id = run_id
        self.ready_fd = ready_fd
        self.faces = 0
        self.run: SupervisedRun | None = None
        self.recorder: RunRecorder | None = None
        self._unattended: asyncio.TimerHandle | None = None
        self._clients: dict[asyncio.StreamWriter, asyncio.Task[Any]] = {}
        self._changed = asyncio.Event()  # set (and replaced) at every new event: followers wake up
        self._stored = asyncio.Event()  # set (and replaced) when the recorder wrote more
        self._finished = False  # run_result is out

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
        me = ProcessId.me()
        journal: Journal | None = None
        recorder: RunRecorder | None = None
        run: SupervisedRun | None = None
        loop = self._loop = asyncio.get_running_loop()
        try:
            with open(paths.open_private(directory / PID_FILE, os.O_WRONLY | os.O_TRUNC), "w") as pid_file:
                pid_file.write(str(me))
            # The journal first: a full disk, a damaged journal or one locked by another process stops the run
            # before any host lock is taken or anything runs (the face shows the one line saying why).
            journal = Journal.open()
            settle_lost_runs(journal)  # runs whose supervisor vanished end as lost before this one takes hosts
            recorder = RunRecorder(self.run_id, supervisor=str(me), on_notice=self._notice_from_thread,
                                   on_stored=self._stored_from_thread)
            run, header = build(recorder)
            await run.prepare()
            journal.begin(self.run_id, header, supervisor_pid=me.pid, supervisor_start=me.start)
            recorder.header = header
        except (UserError, OSError) as exc:
            failure = exc if isinstance(exc, UserError) else state_error(exc, directory, "write the run's files in")
            if run is not None:
                with contextlib.suppress(Exception):
                    await run.release()
            if recorder is not None:
                recorder.close(timeout=0)
            shutil.rmtree(directory, ignore_errors=True)  # nothing ran: no run to show in history
            self.report_ready({"ok": False, "error": failure.message, "exit_code": failure.exit_code})
            return failure.exit_code
        finally:
            if journal is not None:
                journal.close()  # the recorder writes with its own connection, from its own thread
        self.run, self.recorder = run, recorder
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: loop.create_task(run.cancel()))
        server = await self._serve()
        self.report_ready({"ok": True, "run_id": self.run_id})
        try:
            async for event in run.events():
                self._emit(event)
                if isinstance(event, PasswordPrompt) or run.pending_prompts:
                    self._check_unattended()
        except Exception as exc:  # record it: nothing about a run may be lost
            with contextlib.suppress(OSError):  # supervisor.log may be on a full disk
                traceback.print_exc()
            if not self._finished:
                now = time.time()
                self._emit(Output(ts=now, node=None, stage=None, line=f"labtui: internal error: {exc}", source="raw"))
                self._emit(RunResult(ts=now, outcome="failed", exit_code=1, message=f"internal error: {exc}"))
        finally:
            # After the result (faces have it already): e.g. where each node ended up, for the journal.
            with contextlib.suppress(Exception):
                for late in await run.probe_after():
                    self._emit(late)
            with contextlib.suppress(Exception):
                await run.wait_late_output()
            # The record may still be waiting for a disk or a lock: keep serving the events until it is written.
            await asyncio.to_thread(recorder.close)
            server.close()
            with contextlib.suppress(OSError):
                socket_path(self.run_id).unlink()
            await self._disconnect_faces()
        return 0

    def _emit(self, event: RunEvent) -> None:
        assert self.recorder is not None
        self.recorder.event(event)
        if isinstance(event, RunResult):
            self._finished = True
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def _stored_from_thread(self) -> None:
        self._loop.call_soon_threadsafe(self._stored_more)

    def _stored_more(self) -> None:
        stored, self._stored = self._stored, asyncio.Event()
        stored.set()

    async def _until_stored(self, count: int, grace: float) -> None:
        """Wait until the first `count` events are written (files and journal), for at most `grace` seconds."""
        assert self.recorder is not None
        deadline = time.monotonic() + grace
        while self.recorder.stored < count and (left := deadline - time.monotonic()) > 0:
            stored = self._stored
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stored.wait(), left)

    def _notice_from_thread(self, text: str) -> None:
        self._loop.call_soon_threadsafe(self._notice, text)

    def _notice(self, text: str) -> None:
        """The recorder added its word about the record (cannot write / written again) to the events: wake the
        faces following the run."""
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

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
                if op in ("attach", "follow"):
                    if op == "attach" or message.get("attach", True):
                        attached = True
                        self.faces += 1
                        if self._unattended:
                            self._unattended.cancel()
                            self._unattended = None
                    if op == "follow":
                        start = message.get("from", 0)
                        # Until the result is sent, or the face goes away (then it no longer counts as attached).
                        follow = asyncio.ensure_future(self._follow(writer, start if isinstance(start, int) else None))
                        gone = asyncio.ensure_future(reader.read())
                        await asyncio.wait({follow, gone}, return_when=asyncio.FIRST_COMPLETED)
                        for task in (follow, gone):
                            task.cancel()
                        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                            await follow
                        break
                    continue  # no reply: the connection stays open while the face follows
                if op == "recorded":
                    continue  # no reply: the connection is closed once the run's whole record is written
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

    async def _follow(self, writer: asyncio.StreamWriter, start: int | None) -> None:
        """Send the run's events from number `start` (None: from now on) as events.jsonl lines, up to run_result."""
        recorder = self.recorder
        assert recorder is not None
        index = len(recorder.lines) if start is None else max(0, start)
        while True:
            changed = self._changed
            while index < len(recorder.lines):
                if isinstance(recorder.events[index], RunResult):
                    # The result reaches faces once the journal has it (so `labtui history` agrees at once), or
                    # after RESULT_GRACE when the journal or the disk cannot take it now: then the face goes first.
                    await writer.drain()
                    await self._until_stored(index + 1, RESULT_GRACE)
                    writer.write(recorder.lines[index])
                    await writer.drain()
                    return
                writer.write(recorder.lines[index])
                index += 1
                if writer.transport.get_write_buffer_size() > FACE_BACKLOG:
                    await writer.drain()  # a slow face waits for itself; the run and other faces go on
            await writer.drain()
            await changed.wait()

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
