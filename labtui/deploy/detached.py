"""Deploys that survive the operator's hang-up: hand the request to a supervisor process.

`start_detached(request, inventory)` checks the request here (so mistakes reach the operator at once),
then starts a supervisor (labtui.runs.client.start_supervisor) with a `DetachedDeploy` as its payload.
The supervisor process builds the `DeployRun` from it, with the probe and the health gate the request
asks for (labtui.cli.supervise: the composition root above deploy and ops), takes the host locks and runs
it to the end; faces follow it as a `DetachedRun`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from labtui.deploy.orchestrator import DeployRun
from labtui.deploy.request import DeployRequest
from labtui.deploy.runner import RunnerTimings
from labtui.errors import UserError
from labtui.inventory.model import Inventory
from labtui.runs.client import DetachedRun, start_supervisor


@dataclass(frozen=True)
class DetachedDeploy:
    """What a deploy supervisor is handed (pickled, private to the operator)."""

    request: DeployRequest
    inventory: Inventory
    timings: RunnerTimings | None = None

    def runner_timings(self) -> RunnerTimings:
        """The given timings, else the request's stall time (and LABTUI_LATE_OUTPUT, for tests)."""
        if self.timings is not None:
            return self.timings
        return RunnerTimings(stall_after=self.request.stall_after,
                             late_output=float(os.environ.get("LABTUI_LATE_OUTPUT", RunnerTimings.late_output)))


def start_detached(request: DeployRequest, inventory: Inventory, *, run_id: str | None = None,
                   timings: RunnerTimings | None = None) -> DetachedRun:
    """Start a supervisor for `request` and wait until it runs (or raise its UserError, e.g. HostLocked)."""
    DeployRun(request, inventory, locking=False)  # validate here: errors reach the operator at once
    return start_supervisor(DetachedDeploy(request, inventory, timings), run_id=run_id)


def detached_deploy(payload: object) -> DetachedDeploy:
    """The supervisor's payload, checked to be a deploy."""
    if not isinstance(payload, DetachedDeploy):
        raise UserError(f"the supervisor was handed {type(payload).__name__}, not a deploy; start it again")
    return payload
