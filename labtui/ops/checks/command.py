"""`command`: a shell command on the host exits 0."""

from __future__ import annotations

from collections.abc import Mapping

from labtui.inventory.model import CheckSpec, Host
from labtui.inventory.schema import Param, ParamProblem
from labtui.ops.checks.base import CheckFailed, CheckKind, remote
from labtui.ssh.api import RemoteShell


class Command(CheckKind):
    name = "command"
    params = {"command": Param((str,), example='e.g. command = "test -e /run/ready"')}

    def problem(self, params: Mapping[str, object]) -> ParamProblem | None:
        if not str(params["command"]).strip():
            return ParamProblem("command", "must be a non-empty shell command")
        return None

    def default_name(self, params: Mapping[str, object]) -> str:
        return f"command {params['command']}"

    async def attempt(self, host: Host, spec: CheckSpec, shell: RemoteShell) -> str:
        command = str(spec.params["command"])
        result = await remote(shell, host.name, command, spec.timeout)
        if result.ok:
            return "exit 0"
        tail = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:] or [""]
        status = "killed" if result.exit_status is None else f"exit {result.exit_status}"
        raise CheckFailed(f"{status}: {tail[0]}".rstrip(": "))
