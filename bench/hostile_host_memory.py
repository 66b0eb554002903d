"""Memory against a hostile host: peak RSS of `labtui status` / `labtui logs` when a host floods its answer.

Setup: SSH servers in a separate process (so the client's figures are its own) answering as a hostile host
would: the probe followed by 100 MB of lines, the probe with a 64 MB single line in it, 200,000 failed units,
and a journal whose one entry is a 64 MB line. Each case runs the real CLI (`labtui status HOST --no-drift`,
`labtui logs HOST -n 1`) in a fresh process through tests/faults/cli_process.py and reads that process's
peak RSS (wait4). The yardsticks, measured in the same run: the same command (`status`, `logs`) against a
well-behaved host; each case's ratio is against its own command's yardstick.

Figures: peak RSS per case, its ratio to the well-behaved host's, and the bytes `status` printed for 200,000
failed units (the "why" line) against a host with one. Issue 11 measured 257 MB (100 MB answer), 291 MB
(64 MB line) and 3.4 MB of output before the caps.

Run:  .venv/bin/python bench/hostile_host_memory.py [--flood-mb 100] [--line-mb 64] [--units 200000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MB = 1024 * 1024


# ----- the server process -----

def _answers(flood_mb: int, line_mb: int, units: int) -> dict[str, object]:
    from labtui.sim.probe import probe_output
    from labtui.sim.state import Generation, SimHost, fake_store_path

    gen = Generation(1, "2026-11-20T12:00:00Z", fake_store_path("nixos-system-h"), "24.05 (Uakari)", "6.6.30")
    sim = SimHost(name="h", generations=[gen], current=1, booted=1, flake_path=gen.path, disk={"/": [10_000, 40_000]})
    normal = probe_output(sim)
    head, _, _ = normal.rpartition("end\n")
    junk_line = "hostile\t" + "x" * 1000 + "\n"
    return {
        "normal": normal,
        "flood": head + junk_line * (flood_mb * MB // len(junk_line)) + "end\n",
        "longline": head + "hostname\t" + "y" * (line_mb * MB) + "\nend\n",
        # What the probe script answers on a host with that many failed units: 100 names, then how many more.
        "units": head + "".join(f"failed-unit\tunit-{i}.service\n" for i in range(min(units, 100)))
                 + (f"failed-units-more\t{units - 100}\n" if units > 100 else "") + "end\n",
        # A host that ignores the script and lists them all.
        "all-units": head + "".join(f"failed-unit\tunit-{i}.service\n" for i in range(units)) + "end\n",
        "one-unit": head + "failed-unit\tunit-0.service\nend\n",
        "journal": '{"__CURSOR": "c1", "__REALTIME_TIMESTAMP": "1795694400000000", "MESSAGE": "'
                   + "z" * (line_mb * MB) + '"}',
        "journal-normal": '{"__CURSOR": "c1", "__REALTIME_TIMESTAMP": "1795694400000000", "MESSAGE": "hello"}',
    }


async def serve(workdir: Path, flood_mb: int, line_mb: int, units: int) -> None:
    from labtui.status.probe import is_probe_command
    from tests.support.asyncssh_server import SshServers

    answers = _answers(flood_mb, line_mb, units)
    factory = SshServers(workdir)
    ports = {}
    for name in ("normal", "flood", "longline", "units", "all-units", "one-unit", "journal", "journal-normal"):
        answer = answers[name]

        def handle(command: str, stdin: str, answer: object = answer, name: str = name) -> object:
            if name.startswith("journal"):
                async def lines():  # journalctl -o json: one entry, then the stream ends
                    yield answer
                return lines() if "journalctl" in command else (127, "", "not found\n")
            return answer if is_probe_command(command) else (127, "", "not found\n")

        server = await factory.start(name, handler=handle)
        ports[name] = server.port
    print(json.dumps({"ports": ports, "known_hosts": str(factory.known_hosts_path),
                      "client_key": str(factory.client_key_path)}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the parent closes stdin
    await factory.close()


# ----- the client side -----

def run_case(info: dict, workdir: Path, host: str, argv: list[str]) -> tuple[float, int, int]:
    """(peak RSS in MB, exit code, bytes printed) of `labtui ARGV` over an inventory of `host` alone."""
    from labtui.inventory.model import Host, Inventory, SshTarget

    target = SshTarget(hostname="127.0.0.1", port=info["ports"][host], user="lab",
                       identity_files=(info["client_key"],), options=(("UserKnownHostsFile", info["known_hosts"]),))
    inventory = Inventory(flake=".", hosts=(Host(name=host, hostname="127.0.0.1", ssh=target),))
    path = workdir / f"{host}.pickle"
    path.write_bytes(pickle.dumps(inventory))
    home = workdir / f"home-{host}"
    home.mkdir(exist_ok=True)
    env = {**os.environ, "LABTUI_TEST_INVENTORY": str(path), "HOME": str(home), "XDG_STATE_HOME": str(home / "s"),
           "XDG_CACHE_HOME": str(home / "c"), "XDG_CONFIG_HOME": str(home / "cfg"), "XDG_RUNTIME_DIR": str(home / "r")}
    out = workdir / f"{host}.out"
    with open(out, "wb") as stdout:
        proc = subprocess.Popen([sys.executable, "-m", "tests.faults.cli_process", *argv], cwd=ROOT, env=env,
                                stdout=stdout, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024, proc.returncode, out.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flood-mb", type=int, default=100)
    parser.add_argument("--line-mb", type=int, default=64)
    parser.add_argument("--units", type=int, default=200_000)
    parser.add_argument("--show", action="store_true", help="print what each case printed (its first 600 bytes)")
    parser.add_argument("--serve", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(Path(args.serve), args.flood_mb, args.line_mb, args.units))
        return
    with tempfile.TemporaryDirectory(prefix="labtui-bench-") as tmp:
        workdir = Path(tmp)
        server = subprocess.Popen([sys.executable, __file__, "--serve", str(workdir / "srv"),
                                   "--flood-mb", str(args.flood_mb), "--line-mb", str(args.line_mb),
                                   "--units", str(args.units)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, cwd=ROOT)
        try:
            assert server.stdout is not None
            info = json.loads(server.stdout.readline())
            status = ["status", "--no-drift", "--timeout", "60"]
            logs = ["logs", "-n", "1"]
            # Yardsticks, measured in this run: the same command against a well-behaved host.
            yardstick = {}
            for host, argv, what in (("normal", status, "`labtui status`"), ("journal-normal", logs, "`labtui logs`")):
                rss, _, printed = run_case(info, workdir, host, [*argv[:1], host, *argv[1:]])
                yardstick[argv[0]] = rss
                print(f"yardstick: {what} of a well-behaved host: peak RSS {rss:.0f} MB, {printed} bytes printed")
            for host, label, argv in (
                ("flood", f"probe answer of {args.flood_mb} MB", status),
                ("longline", f"probe with a {args.line_mb} MB single line", status),
                ("units", f"{args.units:,} failed units", status),
                ("all-units", f"{args.units:,} failed units, every name sent", status),
                ("journal", f"`logs`: a journal entry of {args.line_mb} MB on one line", logs),
            ):
                rss, code, printed = run_case(info, workdir, host, [*argv[:1], host, *argv[1:]])
                print(f"{label}: peak RSS {rss:.0f} MB ({rss / yardstick[argv[0]]:.2f}x its yardstick), exit {code}, "
                      f"{printed:,} bytes printed")
                if args.show:
                    print("    " + (workdir / f"{host}.out").read_bytes()[:600].decode(errors="replace")
                          .replace("\n", "\n    "))
            _, _, one_bytes = run_case(info, workdir, "one-unit", status)
            _, _, many_bytes = run_case(info, workdir, "units", status)
            print(f"`status` output for {args.units:,} failed units: {many_bytes:,} bytes "
                  f"({many_bytes / one_bytes:.2f}x the output for one failed unit)")
        finally:
            if server.stdin:
                server.stdin.close()
            server.wait(30)


if __name__ == "__main__":
    main()
