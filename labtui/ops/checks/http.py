"""`http`: a URL answers with the expected status (and body), fetched from this machine (the jump host)."""

from __future__ import annotations

import asyncio
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from labtui.inventory.model import CheckSpec, Host
from labtui.inventory.schema import Param, ParamProblem
from labtui.ops.checks.base import CheckFailed, CheckKind, number
from labtui.ssh.api import RemoteShell


def http_get(url: str, timeout: float, insecure: bool) -> tuple[int, bytes]:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:  # the expected status may be a 30x
            return None

    context = ssl.create_default_context()
    if insecure:  # `insecure = true`: a lab's self-signed certificate
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    opener = urllib.request.build_opener(NoRedirect, urllib.request.HTTPSHandler(context=context))
    request = urllib.request.Request(url, headers={"User-Agent": "labtui-check"})
    try:
        with opener.open(request, timeout=timeout) as response:
            return int(response.status), bytes(response.read(1 << 20))
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(1 << 20) if exc.fp else b""
    except urllib.error.URLError as exc:
        raise CheckFailed(f"{url}: {exc.reason}") from None
    except (OSError, ValueError) as exc:
        raise CheckFailed(f"{url}: {exc}") from None


class Http(CheckKind):
    name = "http"
    params = {
        "url": Param((str,), example='e.g. url = "https://web1.lan/health"'),
        "status": Param((int,), 200, bounds=(100, 599)),
        "body": Param((str,), None),
        "insecure": Param((bool,), False),
    }

    def problem(self, params: Mapping[str, object]) -> ParamProblem | None:
        url = params["url"]
        parsed = urllib.parse.urlsplit(url) if isinstance(url, str) else None
        if not parsed or parsed.scheme not in ("http", "https") or not parsed.hostname:
            return ParamProblem("url", f"must start with http:// or https:// and name a host, got {url!r}")
        if not 100 <= number(params, "status") <= 599:
            return ParamProblem("status", f"must be between 100 and 599 (an HTTP status), got {params['status']!r}")
        body = params.get("body")
        if body is not None:
            try:
                re.compile(str(body))
            except re.error as exc:
                return ParamProblem("body", f"is not a valid regular expression ({exc})")
        return None

    def default_name(self, params: Mapping[str, object]) -> str:
        return f"http {params['url']}"

    async def attempt(self, host: Host, spec: CheckSpec, shell: RemoteShell) -> str:
        url = str(spec.params["url"])
        expected = int(number(spec.params, "status")) if "status" in spec.params else 200
        status, body = await asyncio.to_thread(http_get, url, spec.timeout, bool(spec.params.get("insecure", False)))
        if status != expected:
            raise CheckFailed(f"{url} answered HTTP {status}, expected {expected}")
        pattern = spec.params.get("body")
        if pattern and not re.search(str(pattern), body.decode("utf-8", "replace")):
            raise CheckFailed(f"{url} body does not match /{pattern}/")
        return f"HTTP {status}" + (f", body matches /{pattern}/" if pattern else "")
