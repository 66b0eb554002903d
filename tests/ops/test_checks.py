from __future__ import annotations

import asyncio
import http.server
import threading

import pytest

from labtui.inventory.model import CheckSpec
from labtui.ops.checks import (
    failed_units_check,
    parse_df,
    parse_failed_units,
    parse_load,
    parse_meminfo,
    run_check,
    run_checks,
    validate_check,
)
from tests.ops.conftest import inv_host


def spec(kind, retries=0, **params):
    return CheckSpec(kind=kind, name=f"{kind} check", params=params, period=1, timeout=2, retries=retries)


@pytest.mark.parametrize("bad, fragment", [
    (spec("http", url="ftp://x"), "http:// or https://"),
    (spec("http", url="http://x", body="(unclosed"), "not a valid regular expression"),
    (spec("http", url="http://x", status=42), "`status` must be between"),
    (spec("unit", unit="-rf"), "systemd unit name"),
    (spec("tcp", port=70000), "`port`"),
    (spec("tcp"), "`port` is required"),
    (spec("disk", mount="relative", max_percent=90), "absolute path"),
    (spec("memory", max_percent="lots"), "must be a number"),
    (spec("load", max_per_cpu=True), "`max_per_cpu` must be a number"),
    (spec("command", command=" "), "non-empty"),
    (spec("ping"), "unknown kind"),
    (CheckSpec(kind="unit", name="n", params={"unit": "a.service"}, period=0), "more than 0"),
])
def test_validate_rejects_bad_definitions(bad, fragment):
    problem = validate_check(bad)
    assert problem is not None and fragment in problem and bad.name in problem


def test_validate_accepts_good_definitions():
    for good in (spec("unit", unit="nginx.service"), spec("http", url="https://x/health", status=204, body="ok"),
                 spec("tcp", port=22), spec("command", command="test -e /run/x"), spec("disk", max_percent=90),
                 spec("memory", max_percent=80), spec("load", max_per_cpu=1.5)):
        assert validate_check(good) is None


def test_parsers_on_recorded_output():
    assert parse_failed_units("● foo.service loaded failed failed Foo\nbar.mount loaded failed failed Bar\n") == {
        "foo.service", "bar.mount"}
    assert parse_df("Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/sda1 100 30 70 30% /\n") == 30.0
    assert parse_meminfo("MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 250 kB\n") == 75.0
    assert parse_load("0.50 0.40 0.30 1/100 42\n4\n") == (0.5, 4)


async def test_unit_check_fails_then_recovers(lab, shell, clock):
    host = inv_host("web1")
    with lab.update("web1") as sim:
        sim.units["nginx.service"] = "failed"

    def recover(c):  # the unit comes back while the check waits for its second retry
        if len(c.sleeps) == 2:
            with lab.update("web1") as sim:
                sim.units["nginx.service"] = "active"

    clock.on_sleep = recover
    result = await run_check(host, spec("unit", retries=5, unit="nginx.service"), shell, clock=clock)
    assert result.ok and result.attempts == 3 and clock.sleeps == [1, 1]
    assert result.duration == 2.0


async def test_check_exhausts_retries(lab, shell, clock):
    with lab.update("web1") as sim:
        sim.units["nginx.service"] = "failed"
    result = await run_check(inv_host("web1"), spec("unit", retries=2, unit="nginx.service"), shell, clock=clock)
    assert not result.ok and result.attempts == 3 and "nginx.service is failed" in result.message


async def test_resource_and_command_checks_on_sim(shell, clock):
    host = inv_host("web1")

    def named(name, kind, **params):
        return CheckSpec(kind=kind, name=name, params=params, period=1, timeout=2, retries=0)

    specs = [named("root", "disk", mount="/", max_percent=50), named("nix", "disk", mount="/nix", max_percent=90),
             named("mem", "memory", max_percent=50), named("load", "load", max_per_cpu=1),
             named("false", "command", command="false"), named("true", "command", command="true"),
             named("nope", "disk", mount="/nope", max_percent=90)]
    results = {r.check: r async for r in run_checks(host, shell, specs, clock=clock)}
    assert results["root"].ok and "40%" in results["root"].message
    assert not results["nix"].ok and "95%" in results["nix"].message
    assert results["mem"].ok and results["load"].ok and results["true"].ok
    assert not results["false"].ok and results["false"].message == "exit 1"
    assert not results["nope"].ok and "No such file" in results["nope"].message


async def test_unreachable_host_fails_checks(lab, shell, clock):
    with lab.update("web1") as sim:
        sim.reachable = False
    result = await run_check(inv_host("web1"), spec("unit", unit="nginx.service"), shell, clock=clock)
    assert not result.ok and "simulated host is down" in result.message


async def test_failed_units_check_only_fails_on_new_units(lab, shell, clock):
    with lab.update("web1") as sim:
        sim.units["old.service"] = "failed"
    check = failed_units_check({"old.service"}, retries=0)
    assert (await run_check(inv_host("web1"), check, shell, clock=clock)).ok
    with lab.update("web1") as sim:
        sim.units["nginx.service"] = "failed"
    result = await run_check(inv_host("web1"), check, shell, clock=clock)
    assert not result.ok and result.message == "new failed units: nginx.service"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        status = 200 if self.path == "/health" else 503
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b"status: green" if status == 200 else b"down")

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def test_http_and_tcp_checks_from_the_jump_host(http_server, shell, clock):
    host = inv_host("web1")
    port = int(http_server.rsplit(":", 1)[1])
    specs = [spec("http", url=f"{http_server}/health", body="green"),
             spec("http", url=f"{http_server}/health", body="red"),
             spec("http", url=f"{http_server}/other"),
             spec("http", url=f"{http_server}/other", status=503),
             spec("tcp", port=port, host="127.0.0.1")]
    results = [await run_check(host, s, shell, clock=clock) for s in specs]
    assert [r.ok for r in results] == [True, False, False, True, True]
    assert "does not match /red/" in results[1].message and "HTTP 503, expected 200" in results[2].message


async def test_tcp_refused(shell, clock):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = await run_check(inv_host("web1"), spec("tcp", port=port, host="127.0.0.1"), shell, clock=clock)
    assert not result.ok and "refused" in result.message


async def test_results_stream_as_they_finish(shell, clock):
    """A fast failure is reported before a slow check finishes."""
    gate = asyncio.Event()

    class SlowShell:
        async def run(self, host, command, *, timeout=None, input=None, max_output=None):
            if "slow" in command:
                await gate.wait()
            return await shell.run(host, "false" if "fast" in command else "true", timeout=timeout)

    specs = [CheckSpec(kind="command", name="slow", params={"command": "slow"}, retries=0),
             CheckSpec(kind="command", name="fast", params={"command": "fast"}, retries=0)]
    stream = run_checks(inv_host("web1"), SlowShell(), specs, clock=clock)
    first = await stream.__anext__()
    assert first.check == "fast" and not first.ok
    gate.set()
    second = await stream.__anext__()
    assert second.check == "slow" and second.ok


@pytest.fixture
def https_server(tmp_path):
    """An HTTPS server with a self-signed certificate (like many lab services)."""
    import ssl
    import subprocess

    from tests.support import require_tool

    openssl = require_tool("openssl", "makes the self-signed certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=localhost"], check=True, capture_output=True)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def test_https_self_signed_needs_insecure(https_server, shell, clock):
    host = inv_host("web1")
    strict = await run_check(host, spec("http", url=f"{https_server}/health"), shell, clock=clock)
    assert not strict.ok and "CERTIFICATE_VERIFY_FAILED" in strict.message
    relaxed = await run_check(host, spec("http", url=f"{https_server}/health", insecure=True), shell, clock=clock)
    assert relaxed.ok, relaxed.message


async def test_scaled_clock_runs_configured_seconds_faster():
    from labtui.ops.clock import ScaledClock

    clock = ScaledClock(1000.0)
    start = clock.monotonic()
    await clock.sleep(5)  # 5 configured seconds = 5 ms of real time
    assert clock.monotonic() - start >= 5


async def test_wrong_ssh_settings_fail_at_once(clock):
    from labtui.ssh.api import AuthFailed

    class RefusingShell:
        async def run(self, host, command, *, timeout=None, input=None, max_output=None):
            raise AuthFailed(host, "root@web1.lan refused every key offered")

    result = await run_check(inv_host("web1"), spec("unit", retries=5, unit="nginx.service"), RefusingShell(),
                             clock=clock)
    assert not result.ok and result.attempts == 1 and clock.sleeps == [] and "refused every key" in result.message
