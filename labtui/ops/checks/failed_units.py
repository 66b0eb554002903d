"""`failed-units` (built in): no unit failed that had not failed before the deploy.

labtui adds it to every gated host's checks after a deploy (labtui.ops.gate); labtui.toml cannot declare
it, since it needs the snapshot taken before the deploy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from labtui.inventory.model import CheckSpec, Host
from labtui.inventory.schema import Param
from labtui.ops.checks.base import CheckFailed, CheckKind, remote
from labtui.ssh.api import RemoteShell, SshError

FAILED_UNITS_KIND = "failed-units"
FAILED_UNITS_COMMAND = "systemctl list-units --state=failed --plain --no-legend --no-pager"


def parse_failed_units(stdout: str) -> frozenset[str]:
    units = set()
    for line in stdout.splitlines():
        fields = line.replace("●", " ").split()
        if fields:
            units.add(fields[0])
    return frozenset(units)


class FailedUnits(CheckKind):
    name = FAILED_UNITS_KIND
    params = {"before": Param((list,), [])}
    declarable = False

    def default_name(self, params: Mapping[str, object]) -> str:
        return "no new failed units"

    async def attempt(self, host: Host, spec: CheckSpec, shell: RemoteShell) -> str:
        before_units = spec.params.get("before", ())
        before = frozenset(str(u) for u in before_units) if isinstance(before_units, (list, tuple)) else frozenset()
        result = await remote(shell, host.name, FAILED_UNITS_COMMAND, spec.timeout)
        if not result.ok:
            reason = result.stderr.strip().splitlines()[:1] or [f"exit {result.exit_status}"]
            raise CheckFailed(f"cannot list failed units: {reason[0]}")
        new = sorted(parse_failed_units(result.stdout) - before)
        if new:
            raise CheckFailed("new failed units: " + ", ".join(new))
        return "no new failed units" + (f" ({len(before)} failed before)" if before else "")


def failed_units_check(before: Iterable[str], *, period: float = 2.0, timeout: float = 5.0,
                       retries: int = 3) -> CheckSpec:
    """The built-in post-deploy check: fails when units failed that had not failed before the deploy."""
    return CheckSpec(kind=FAILED_UNITS_KIND, name="no new failed units", params={"before": sorted(before)},
                     period=period, timeout=timeout, retries=retries)


async def snapshot_failed_units(shell: RemoteShell, host: str, timeout: float = 10.0) -> frozenset[str] | None:
    """The host's failed units now, or None when it cannot be asked."""
    try:
        result = await shell.run(host, FAILED_UNITS_COMMAND, timeout=timeout)
    except SshError:
        return None
    if not result.ok:  # no systemd (or no bus): nothing to compare against
        return None
    return parse_failed_units(result.stdout)
