"""Wiring from the core packages to the small interfaces the app takes (labtui.tui.sources).

Core modules are imported inside functions: a module that has not landed yet only disables its view.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from labtui.runs.events import Event, event_from_dict
from labtui.inventory.model import Host, Inventory
from labtui.ssh.api import RemoteShell
from labtui.tui.sources import DeployChoice, PasswordAsker, RunSummary, maybe_await


# -- deploys -----------------------------------------------------------------------------------------
def deploy_request(choice: DeployChoice):
    """The orchestrator's DeployRequest for what the operator chose in the dialog."""
    from labtui.deploy.commands import DeployRsOptions
    from labtui.deploy.request import DeployRequest

    options = DeployRsOptions(
        skip_checks=choice.skip_checks,
        magic_rollback=None if choice.magic_rollback else False,
        auto_rollback=None if choice.auto_rollback else False,
    )
    return DeployRequest(
        targets=[(h, None) for h in choice.hosts],
        method=choice.method,
        action=choice.action,
        options=options,
        atomic=choice.mode == "atomic" and choice.method == "deploy-rs",
        parallel=1 if choice.mode == "atomic" else None,
        interactive=choice.show_plan and choice.method == "deploy-rs",
    )


class RunHandle:
    """A DetachedRun or DeployRun as the app's DeployHandle; answers sudo password prompts by asking."""

    def __init__(self, run: Any, ask_password: PasswordAsker, *, detachable: bool) -> None:
        self.run = run
        self.ask_password = ask_password
        self.detachable = detachable
        self.run_id = getattr(run, "run_id", None)

    async def events(self) -> AsyncIterator[Event]:
        from labtui.runs.events import PasswordPrompt

        async for event in self.run.events():
            if isinstance(event, PasswordPrompt):
                password = await self.ask_password(event.node or event.hostname)
                await maybe_await(self.run.send_password(event.hostname, password))
                continue
            yield event

    async def cancel(self) -> None:
        await maybe_await(self.run.cancel())

    async def answer_prompt(self, yes: bool, node: str | None = None) -> None:
        await maybe_await(self.run.answer_prompt(yes, node))


class CoreDeployStarter:
    """Starts deploys with labtui's engine; detached (a supervisor process) so quitting keeps them going."""

    def __init__(self, inventory: Inventory, *, detached: bool = True, env: dict[str, str] | None = None,
                 survives_quit: bool = True) -> None:
        self.inventory = inventory
        self.detached = detached
        self.env = env
        self.survives_quit = survives_quit  # False in the demo: its lab goes away when labtui quits

    async def __call__(self, hosts: list[Host], choice: DeployChoice, ask_password: PasswordAsker) -> RunHandle:
        request = deploy_request(choice)
        if self.detached:
            from labtui.deploy.detached import start_detached

            # It waits for the supervisor to say it runs: off the UI loop.
            run = await asyncio.to_thread(start_detached, request, self.inventory)
            return RunHandle(run, ask_password, detachable=self.survives_quit)
        from labtui.deploy.orchestrator import DeployRun

        async def password(node: str | None, hostname: str) -> str | None:
            return await ask_password(node or hostname)

        run = DeployRun(request, self.inventory, ask_password=password, env=self.env)
        return RunHandle(run, ask_password, detachable=False)


# -- history -------------------------------------------------------------------------------------------
class JournalHistory:
    """The deploy journal as the history view wants it."""

    def __init__(self, journal: Any | None = None) -> None:
        self._journal = journal

    @property
    def journal(self):
        if self._journal is None:
            from labtui.runs.journal import Journal

            self._journal = Journal.open()
        return self._journal

    def list_runs(self, host: str | None = None) -> list[RunSummary]:
        out = []
        for s in self.journal.list_runs(host):
            nodes = tuple(dict.fromkeys(k.split(".", 1)[0] for k in s.nodes))
            outcomes = {}
            for key, outcome in s.nodes.items():
                node = key.split(".", 1)[0]
                if outcome and outcomes.get(node) not in ("failed", "rolled_back"):
                    outcomes[node] = outcome
            out.append(RunSummary(run_id=s.run_id, started=s.started, finished=s.ended,
                                  method=f"{s.method} {s.action}", nodes=nodes,
                                  outcome=s.outcome if s.state != "lost" else "failed", node_outcomes=outcomes))
        return out

    def running_runs(self) -> list[RunSummary]:
        return [r for r in self.list_runs() if r.outcome is None and self._alive(r.run_id)]

    @staticmethod
    def _alive(run_id: str) -> bool:
        from labtui.runs.client import is_running

        return is_running(run_id)

    def attach(self, run_id: str, ask_password: PasswordAsker) -> RunHandle:
        """Follow a run its supervisor is still running: its events from the start, then live."""
        from labtui.runs.client import DetachedRun

        return RunHandle(DetachedRun(run_id), ask_password, detachable=True)

    def run_events(self, run_id: str) -> list[Event]:
        from labtui.runs.files import events_path

        path = Path(events_path(run_id))
        events = []
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.strip():
                try:
                    events.append(event_from_dict(json.loads(line)))
                except (KeyError, TypeError, ValueError):
                    continue  # an event kind this version does not know
        return events

    def last_outcome(self, host: str) -> str | None:
        record = self.journal.last_outcome(host)
        return record.outcome if record is not None else None


# -- ops -------------------------------------------------------------------------------------------------
_PRIO = ("emerg", "alert", "crit", "err", "warn", "notice", "info", "debug")


class CoreOps:
    """Logs, checks and generations of a host over the RemoteShell, as lines of text."""

    def __init__(self, shell: RemoteShell, clock: Callable[[], float] | None = None) -> None:
        self.shell = shell

    async def logs(self, host: Host) -> AsyncIterator[str]:
        from labtui.ops.logs import LogEntry, LogQuery, read_journal

        async for item in read_journal(self.shell, host.name, LogQuery(lines=200, follow=True)):
            if isinstance(item, LogEntry):
                when = _dt.datetime.fromtimestamp(item.ts).strftime("%b %d %H:%M:%S")
                prio = _PRIO[item.priority] if 0 <= item.priority < len(_PRIO) else str(item.priority)
                yield f"{when} {item.unit}[{prio}]: {item.message}"
            else:
                yield f"-- {item.message} --"

    async def checks(self, host: Host) -> list[str]:
        from labtui.ops.checks import run_checks

        if not host.checks:
            return [f"{host.name} has no health checks; declare them in labtui.toml ([hosts.{host.name}] checks)"]
        lines = []
        async for r in run_checks(host, self.shell):
            mark = "PASS" if r.ok else "FAIL"
            lines.append(f"{mark}  {r.check:<24} {r.kind:<8} {r.message}  ({r.attempts} attempt(s), {r.duration:.1f}s)")
        return sorted(lines, key=lambda line: line.startswith("PASS"))

    async def generations(self, host: Host) -> list[str]:
        from labtui.ops.generations import list_generations

        gens = await list_generations(self.shell, host.name)
        lines = [f"{'GEN':>5}  {'DATE':<19} {'NIXOS':<28} {'KERNEL':<10} FLAGS"]
        for g in sorted(gens, key=lambda g: g.number, reverse=True):
            flags = " ".join(f for f, on in (("current", g.current), ("booted", g.booted), ("next-boot", g.default))
                             if on)
            lines.append(f"{g.number:>5}  {g.date[:19]:<19} {g.nixos_version:<28} {g.kernel or '-':<10} {flags}")
        return lines


def status_source(inventory: Inventory, shell: RemoteShell, resolver: Any = None):
    """labtui's StatusPoller over `shell`."""
    from labtui.status.poller import StatusPoller

    return StatusPoller(list(inventory.hosts), shell, resolver=resolver)
