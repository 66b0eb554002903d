"""Status fan-out: labtui's persistent connections against the old `ssh host cmd` per host in sequence.

Setup: N simulated hosts, each an asyncssh server behind a TCP proxy adding LATENCY seconds one way
(so every round trip costs 2 x LATENCY), all in a separate server process so the client's figures
are its own. The hosts answer the real probe command with the simulated lab's probe output.

  (a) first complete status of all N hosts (connect + probe) vs one host's connect + probe
      (target: within 2x)
  (b) steady-state refresh of all N over open connections vs the old way: a fresh OpenSSH `ssh`
      client per host, in sequence, running the same probe (target: >= 20x)
  (c) client CPU and memory while polling CPU_HOSTS hosts every 5 s

Run:  .venv/bin/python bench/status_fanout.py [--hosts 20] [--latency 0.03] [--cpu-hosts 50] [--cpu-window 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


# ----- the server process -----

async def serve(count: int, latency: float, workdir: Path) -> None:

    from labtui.sim.probe import probe_output
    from labtui.sim.state import Generation, SimHost, fake_store_path
    from labtui.status.probe import is_probe_command
    from tests.support.asyncssh_server import LatencyProxy, SshServers

    factory = SshServers(workdir)
    hosts = []
    for i in range(count):
        name = f"h{i:02d}"
        gen = Generation(1, "2026-11-20T12:00:00Z", fake_store_path(f"nixos-system-{name}"), "24.05 (Uakari)", "6.6.30")
        sim = SimHost(name=name, generations=[gen], current=1, booted=1, flake_path=gen.path,
                      disk={"/": [10_000, 40_000]})

        def answer(command: str, stdin: str, sim=sim):
            return probe_output(sim) if is_probe_command(command) else (127, "", "not found\n")

        server = await factory.start(name, handler=answer)
        proxy = await LatencyProxy(server.port, latency).start()
        hosts.append({"name": name, "port": proxy.port})
    # The clients reach the servers through the proxies: trust the servers' keys on the proxy ports.
    lines = []
    for server, h in zip(factory.servers, hosts, strict=True):
        key = server.host_key.export_public_key().decode().strip()
        lines.append(f"[127.0.0.1]:{h['port']} {key}\n")
    known = workdir / "known_hosts_proxied"
    known.write_text("".join(lines))
    print(json.dumps({"hosts": hosts, "known_hosts": str(known), "client_key": str(factory.client_key_path)}),
          flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # serve until the parent closes our stdin
    await factory.close()


# ----- the client side -----

def _hosts(info: dict, count: int | None = None):
    from labtui.inventory.model import Host, SshTarget

    chosen = info["hosts"][:count] if count else info["hosts"]
    return [Host(name=h["name"], hostname="127.0.0.1",
                 ssh=SshTarget(hostname="127.0.0.1", port=h["port"], user="lab")) for h in chosen]


def _pool(info: dict, hosts):
    from labtui.ssh.pool import SshPool

    return SshPool(hosts, known_hosts=[info["known_hosts"]], client_keys=[info["client_key"]], config=None)


async def first_status(info: dict, count: int) -> float:
    """Seconds from nothing to a complete first status of `count` hosts (connect + probe)."""
    from labtui.commandlog import CommandLog
    from labtui.ssh.api import HostState
    from labtui.status.poller import StatusPoller

    hosts = _hosts(info, count)
    pool = _pool(info, hosts)
    pool.command_log = CommandLog()
    poller = StatusPoller(hosts, pool, probe_timeout=30)
    started = time.perf_counter()
    snapshot = await poller.wait_all(timeout=60)
    elapsed = time.perf_counter() - started
    await poller.close()
    await pool.close()
    bad = [s.host for s in snapshot.values() if s.state is not HostState.UP]
    if bad:
        raise SystemExit(f"hosts not up: {bad}: {[snapshot[b].error for b in bad]}")
    return elapsed


async def steady_refresh(info: dict, rounds: int) -> list[float]:
    """Seconds for a refresh of every host over already open connections (one probe each, concurrently)."""
    from labtui.commandlog import CommandLog
    from labtui.status.poller import StatusPoller

    hosts = _hosts(info)
    pool = _pool(info, hosts)
    pool.command_log = CommandLog()
    poller = StatusPoller(hosts, pool, probe_timeout=30, default_interval=3600)
    await poller.wait_all(timeout=60)
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        await asyncio.gather(*(poller.probe_once(h.name) for h in hosts))
        times.append(time.perf_counter() - started)
    await poller.close()
    await pool.close()
    return times


async def old_way(info: dict, ssh: str) -> float:
    """Seconds for `ssh host probe` per host, in sequence, each a fresh OpenSSH connection."""
    from labtui.status.probe import PROBE_COMMAND, PROBE_SCRIPT

    started = time.perf_counter()
    for h in info["hosts"]:
        argv = [ssh, "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                "-o", f"UserKnownHostsFile={info['known_hosts']}", "-o", "IdentitiesOnly=yes",
                "-i", info["client_key"], "-p", str(h["port"]), "lab@127.0.0.1", PROBE_COMMAND]
        proc = await asyncio.create_subprocess_exec(*argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                                    stderr=subprocess.PIPE)
        out, err = await proc.communicate(PROBE_SCRIPT.encode())
        if proc.returncode != 0 or not out.startswith(b"labtui-probe"):
            raise SystemExit(f"ssh to {h['name']} failed ({proc.returncode}): {err.decode().strip()}")
    return time.perf_counter() - started


async def old_way_asyncssh(info: dict) -> float:
    """The old way without an `ssh` binary: a fresh asyncssh connection per host, in sequence."""
    import asyncssh

    from labtui.status.probe import PROBE_COMMAND, PROBE_SCRIPT

    started = time.perf_counter()
    for h in info["hosts"]:
        async with asyncssh.connect("127.0.0.1", h["port"], username="lab", client_keys=[info["client_key"]],
                                    known_hosts=info["known_hosts"], config=None) as conn:
            await conn.run(PROBE_COMMAND, input=PROBE_SCRIPT)
    return time.perf_counter() - started


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def cpu_and_memory(info: dict, window: float) -> dict:
    """Client CPU (% of one core) and RSS while polling every host every 5 s for `window` seconds."""
    from labtui.commandlog import CommandLog
    from labtui.status.poller import StatusPoller

    hosts = _hosts(info)
    pool = _pool(info, hosts)
    pool.command_log = CommandLog()
    poller = StatusPoller(hosts, pool, probe_timeout=30, default_interval=5.0)
    await poller.wait_all(timeout=60)  # connections are open; measure the steady state
    updates = 0

    async def count() -> None:
        nonlocal updates
        async for _ in poller.stream():
            updates += 1

    counter = asyncio.ensure_future(count())
    rss_before = _rss_mb()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.sleep(window)  # the measurement window itself, not synchronisation
    cpu1, wall1 = time.process_time(), time.perf_counter()
    rss_after = _rss_mb()
    counter.cancel()
    await poller.close()
    await pool.close()
    return {"hosts": len(hosts), "window_s": wall1 - wall0, "cpu_percent": 100 * (cpu1 - cpu0) / (wall1 - wall0),
            "rss_mb": rss_after, "rss_growth_mb": rss_after - rss_before, "updates": updates - len(hosts)}


class ServerProcess:
    def __init__(self, count: int, latency: float) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="labtui-bench-"))
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve", str(count), "--latency", str(latency),
                                      "--workdir", str(self.workdir)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit("the server process did not start")
        self.info = json.loads(line)

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


async def client(args: argparse.Namespace) -> None:
    rtt_ms = 2 * args.latency * 1000
    print(f"status fan-out: {args.hosts} hosts, {args.latency * 1000:g} ms one-way latency (RTT {rtt_ms:g} ms)")
    servers = ServerProcess(args.hosts, args.latency)
    try:
        info = servers.info
        await first_status(info, 1)  # warm-up: imports, key loading, first-use costs
        singles = [await first_status(info, 1) for _ in range(args.repeat)]
        fleets = [await first_status(info, args.hosts) for _ in range(args.repeat)]
        one, fleet = statistics.median(singles), statistics.median(fleets)
        print(f"(a) first complete status: 1 host {one * 1000:.0f} ms, {args.hosts} hosts {fleet * 1000:.0f} ms "
              f"-> ratio {fleet / one:.2f}x (target <= 2x) [medians of {args.repeat}]")

        refresh = statistics.median(await steady_refresh(info, args.repeat * 3))
        ssh = shutil.which("ssh")
        if ssh:
            olds = [await old_way(info, ssh) for _ in range(args.repeat)]
            how = "fresh OpenSSH `ssh host cmd` per host, in sequence"
        else:
            olds = [await old_way_asyncssh(info) for _ in range(args.repeat)]
            how = "fresh asyncssh connection per host, in sequence (no `ssh` binary here)"
        old = statistics.median(olds)
        print(f"(b) steady refresh of {args.hosts} hosts: labtui {refresh * 1000:.0f} ms; old way ({how}) "
              f"{old * 1000:.0f} ms -> ratio {old / refresh:.1f}x faster (target >= 20x)")
    finally:
        servers.close()

    servers = ServerProcess(args.cpu_hosts, args.latency)
    try:
        r = await cpu_and_memory(servers.info, args.cpu_window)
        print(f"(c) polling {r['hosts']} hosts every 5 s for {r['window_s']:.1f} s: client CPU {r['cpu_percent']:.1f}% "
              f"of one core, RSS {r['rss_mb']:.0f} MB (grew {r['rss_growth_mb']:+.1f} MB), {r['updates']} updates")
    finally:
        servers.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.030, help="one-way latency in seconds")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cpu-hosts", type=int, default=50)
    parser.add_argument("--cpu-window", type=float, default=30.0)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve, args.latency, Path(args.workdir)))
    else:
        os.environ.setdefault("HOME", tempfile.mkdtemp(prefix="labtui-bench-home-"))
        asyncio.run(client(args))


if __name__ == "__main__":
    main()
