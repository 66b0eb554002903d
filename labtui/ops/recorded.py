"""A rollback and a reboot as recorded runs: each one stream of events (run_started first, run_result last), written to
the journal as it goes (`labtui history`), that `labtui rollback`/`labtui reboot` print and the TUI's deploy pane
shows. Asking first (confirmation, sudo passwords) is the face's part; what happens after is the same for both."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from labtui.inventory.model import Host, Inventory
from labtui.ops.generations import (
    GenerationInfo,
    SwitchOutcome,
    host_switch_command,
    new_switch_token,
    switch_generation,
)
from labtui.ops.privilege import privilege_for
from labtui.ops.reboot import REBOOT_COMMAND, outcomes, reboot_hosts
from labtui.ops.runtime import OpsRecord
from labtui.runs.events import (
    GenerationSwitched,
    NodeResult,
    Output,
    RollbackResult,
    RunEvent,
    StageChanged,
)
from labtui.ssh.api import RemoteShell


class RecordedRollback:
    """Switch `host` to the generation `target`; `outcome` and `record` are there once `events()` has ended."""

    def __init__(self, inventory: Inventory, shell: RemoteShell, host: Host, target: GenerationInfo,
                 current: GenerationInfo | None, *, sudo_password: str | None = None) -> None:
        self.inventory = inventory
        self.shell = shell
        self.host = host
        self.target = target
        self.current = current
        self.sudo_password = sudo_password
        self.outcome: SwitchOutcome | None = None
        self.record: OpsRecord | None = None

    async def events(self) -> AsyncIterator[RunEvent]:
        host, target = self.host, self.target
        token = new_switch_token()
        record = self.record = OpsRecord("rollback", self.inventory, [host.name],
                                         [host_switch_command(host, target.number, token)])
        yield record.started

        def emit(event: RunEvent) -> RunEvent:
            record.emit(event)
            return event

        yield emit(StageChanged(ts=time.time(), node=host.name, profile="system", stage="activate"))
        outcome = self.outcome = await switch_generation(
            self.shell, host, target.number, from_generation=self.current.number if self.current else None,
            sudo_password=self.sudo_password, token=token)
        for line in outcome.output.splitlines():
            yield emit(Output(ts=time.time(), node=host.name, stage="activate", line=line, source="rollback"))
        if outcome.ok and outcome.from_generation is not None:
            yield emit(GenerationSwitched(ts=time.time(), node=host.name, from_generation=outcome.from_generation,
                                          to_generation=target.number))
        yield emit(RollbackResult(ts=time.time(), node=host.name, from_generation=outcome.from_generation,
                                  to_generation=target.number, ok=outcome.ok, message=outcome.message))
        for event in record.finish([NodeResult(ts=time.time(), node=host.name, profile="system",
                                               outcome="succeeded" if outcome.ok else "failed", stage="activate",
                                               message=outcome.message)]):
            yield event


class RecordedReboot:
    """Reboot `hosts` in waves and follow each back to service (labtui.ops.reboot.reboot_hosts); `events_seen`
    and `record` are there once `events()` has ended."""

    def __init__(self, inventory: Inventory, shell: RemoteShell, hosts: Sequence[Host], *, wave_size: int = 1,
                 stop_on_failure: bool = True, sudo_passwords: Mapping[str, str] | None = None,
                 **options: Any) -> None:
        self.inventory = inventory
        self.shell = shell
        self.hosts = list(hosts)
        self.wave_size = wave_size
        self.stop_on_failure = stop_on_failure
        self.sudo_passwords = sudo_passwords
        self.options = options  # timeout, poll, clock, run_health_checks: for reboot_host
        self.events_seen: list[RunEvent] = []
        self.record: OpsRecord | None = None

    async def events(self) -> AsyncIterator[RunEvent]:
        hosts = self.hosts
        record = self.record = OpsRecord("reboot", self.inventory, [h.name for h in hosts],
                                         [privilege_for(h).wrap(REBOOT_COMMAND) for h in hosts], profile=None)
        yield record.started
        async for event in reboot_hosts(hosts, self.shell, wave_size=self.wave_size,
                                        stop_on_failure=self.stop_on_failure, sudo_passwords=self.sudo_passwords,
                                        **self.options):
            self.events_seen.append(event)
            record.emit(event)
            yield event
        results = [NodeResult(ts=time.time(), node=r.host, profile=None,
                              outcome="succeeded" if r.ok else ("not_deployed" if r.phase == "waiting" else "failed"),
                              stage=None, message=r.message) for r in outcomes(self.events_seen)]
        for event in record.finish(results):
            self.events_seen.append(event)
            yield event

