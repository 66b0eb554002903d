"""`tcp`: a port accepts connections, tried from this machine (the jump host)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from labtui.inventory.model import CheckSpec, Host
from labtui.inventory.schema import Param, ParamProblem
from labtui.inventory.validate import hostname_problem
from labtui.ops.checks.base import CheckFailed, CheckKind, number
from labtui.ssh.api import RemoteShell


class Tcp(CheckKind):
    name = "tcp"
    params = {"port": Param((int,), example="e.g. port = 443", bounds=(1, 65535)), "host": Param((str,), None)}

    def problem(self, params: Mapping[str, object]) -> ParamProblem | None:
        if not 0 < number(params, "port") < 65536:
            return ParamProblem("port", f"must be 1-65535, got {params['port']!r}")
        host = params.get("host")
        if host is not None:
            why = hostname_problem(str(host))
            if why is not None:
                return ParamProblem("host", f"is refused: {why}, which could inject into a shell or ssh "
                                            "argument; use a DNS name or IP address")
        return None

    def complete(self, params: Mapping[str, object], hostname: str) -> dict[str, object]:
        """Without `host`, the port of the host the check belongs to."""
        return {**params, "host": params.get("host") or hostname}

    def default_name(self, params: Mapping[str, object]) -> str:
        return f"tcp {params.get('host')}:{params['port']}"

    async def attempt(self, host: Host, spec: CheckSpec, shell: RemoteShell) -> str:
        target = str(spec.params.get("host") or host.hostname)
        port = int(number(spec.params, "port"))
        try:
            _, writer = await asyncio.open_connection(target, port)
        except OSError as exc:
            raise CheckFailed(f"{target}:{port} refused ({exc.strerror or exc})") from None
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass
        return f"{target}:{port} accepts"
