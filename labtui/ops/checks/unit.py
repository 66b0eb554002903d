"""`unit`: a systemd unit is active on the host (`systemctl is-active`)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping

from labtui.inventory.model import CheckSpec, Host
from labtui.inventory.schema import Param, ParamProblem
from labtui.ops.checks.base import CheckFailed, CheckKind, remote
from labtui.ssh.api import RemoteShell

UNIT_RE = re.compile(r"^[A-Za-z0-9:_.@\\-]+$")


def unit_command(unit: str) -> str:
    return f"systemctl is-active -- {shlex.quote(unit)}"


class Unit(CheckKind):
    name = "unit"
    params = {"unit": Param((str,), example='e.g. unit = "nginx.service"')}

    def problem(self, params: Mapping[str, object]) -> ParamProblem | None:
        unit = params["unit"]
        if not isinstance(unit, str) or not UNIT_RE.match(unit) or unit.startswith("-"):
            return ParamProblem("unit", f"is not a systemd unit name such as `nginx.service`: {unit!r}")
        return None

    def default_name(self, params: Mapping[str, object]) -> str:
        return f"unit {params['unit']}"

    async def attempt(self, host: Host, spec: CheckSpec, shell: RemoteShell) -> str:
        unit = str(spec.params["unit"])
        result = await remote(shell, host.name, unit_command(unit), spec.timeout)
        state = result.stdout.strip() or "unknown"
        if result.ok and state == "active":
            return f"{unit} active"
        raise CheckFailed(f"{unit} is {state}")
