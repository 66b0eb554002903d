"""Closure diff of a fleet: `labtui diff` of 20 hosts against the same of one host (target: within 1.5x).

What scales with the fleet must not cost per host: one evaluation for every host (deploy-rs's attributes of a
real flake, real Nix), one dry run, one `nix path-info` for every new system, and the hosts asked at once. The
hosts are simulated: each answers labtui's two remote questions (what it runs, which new paths it lacks) after
30 ms of network latency per command, with a closure that differs from the new one by a package version.
Both figures are taken with the systems already built (the steady state; a first build is printed too), best of
three; the ratio is 20 hosts over 1 host, measured in the same run.

    .venv/bin/python bench/closure_diff.py             # 20 hosts
    .venv/bin/python bench/closure_diff.py --hosts 5   # quick
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labtui.closure.query import HOST_COMMAND, MISSING_COMMAND, new_systems  # noqa: E402
from labtui.deploy.preview import preview  # noqa: E402
from labtui.inventory import load_inventory  # noqa: E402
from labtui.ssh.api import CommandResult  # noqa: E402

LATENCY = 0.03
NIX_CONFIG = "experimental-features = nix-command flakes\nsubstituters =\nsandbox = false"

FLAKE = r"""{
  outputs = { self }:
    let
      system = "x86_64-linux";
      nonce = "@NONCE@";
      pkg = name: version: builtins.derivation {
        name = "${name}-${version}"; inherit system nonce; builder = "/bin/sh";
        args = [ "-c" "echo ${name} > $out" ];
      };
      kernel = builtins.derivation {
        name = "linux-6.6.61"; inherit system nonce; builder = "/bin/sh";
        args = [ "-c" "PATH=/usr/bin:/bin; mkdir -p $out; echo k > $out/bzImage; echo i > $out/initrd" ];
      };
      packages = [ (pkg "nginx" "1.27.0") (pkg "openssl" "3.0.15") (pkg "htop" "3.3.0") (pkg "curl" "8.10.1") ];
      mkSystem = host: builtins.derivation {
        name = "nixos-system-${host}-24.11.1"; inherit system nonce kernel packages; builder = "/bin/sh";
        args = [ "-c" ("PATH=/usr/bin:/bin; mkdir -p $out/sw; echo 24.11.1 > $out/nixos-version; "
          + "ln -s $kernel/bzImage $out/kernel; ln -s $kernel/initrd $out/initrd; "
          + "for p in $packages; do ln -s $p $out/sw/; done") ];
      };
      node = host: { hostname = "${host}.lab"; profiles.system = { user = "root"; path = mkSystem host; }; };
    in { deploy.nodes = builtins.listToAttrs (map (n: { name = n; value = node n; }) [ @HOSTS@ ]); };
}
"""


class SimulatedHosts:
    """A RemoteShell: each host runs an older generation of its new system (nginx one version behind)."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers
        self.commands = 0

    async def run(self, host, command, *, timeout=None, input=None):  # type: ignore[no-untyped-def]
        self.commands += 1
        await asyncio.sleep(LATENCY)
        if command == HOST_COMMAND:
            answer = self.answers.get(host)
            return CommandResult(0, answer, "") if answer else CommandResult(3, "", "not asked yet\n")
        if command == MISSING_COMMAND:
            return CommandResult(0, "".join(line for line in (input or "").splitlines(keepends=True)
                                            if "-nginx-" in line), "")
        return CommandResult(127, "", "sh: unknown command\n")

    async def stream(self, host, command):  # type: ignore[no-untyped-def]
        yield ""


def host_answer(system, kernel: str) -> str:
    """What HOST_SCRIPT prints for a host running `system` with nginx 1.26.2 instead of 1.27.0."""
    paths = {p.replace("-nginx-1.27.0", "-nginx-1.26.2"): s for p, s in system.closure.paths.items()}
    lines = [f"current\t{system.closure.root}", f"system\t{system.closure.root}"]
    for link in ("kernel", "initrd"):
        lines += [f"link\tcurrent-{link}\t{kernel}/{'bzImage' if link == 'kernel' else 'initrd'}",
                  f"link\tbooted-{link}\t{kernel}/{'bzImage' if link == 'kernel' else 'initrd'}"]
    lines.append("version\t24.11.1")
    lines += [f"path\t{p}" for p in paths] + [f"size\t{s}" for s in paths.values()]
    return "\n".join(lines) + "\n"


async def timed(inventory, hosts, shell) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = await preview(inventory, hosts, shell)
    return time.perf_counter() - started, result


async def main_async(count: int) -> int:
    root = Path(tempfile.mkdtemp(prefix="labtui-bench-diff-"))
    flake = root / "flake"
    flake.mkdir()
    names = [f"host{i:02d}" for i in range(1, count + 1)]
    (flake / "flake.nix").write_text(FLAKE.replace("@NONCE@", secrets.token_hex(6)).replace(
        "@HOSTS@", " ".join(f'"{n}"' for n in names)))
    git = ["git", "-C", str(flake), "-c", "user.email=b@b", "-c", "user.name=b"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "bench"], check=True)
    outs: list[str] = []
    try:
        inventory = load_inventory(flake=str(flake))
        hosts = list(inventory.hosts)
        shell = SimulatedHosts({})
        # First run: builds every system (and fails to compare: the hosts have no answers yet).
        cold, _ = await timed(inventory, hosts, shell)
        evaluated = subprocess.run(
            ["nix", "eval", "--json", f"{flake}#deploy.nodes", "--apply",
             "ns: map (n: ns.${n}.profiles.system.path.outPath) (builtins.attrNames ns)"],
            capture_output=True, text=True, check=True).stdout
        outs = json.loads(evaluated)
        systems = await new_systems(outs)
        kernel = next(iter(systems.values())).closure.links["kernel"].rsplit("/", 1)[0]
        answers = {name: host_answer(systems[out], kernel) for name, out in zip(sorted(names), sorted(outs),
                                                                                 strict=True)}
        shell = SimulatedHosts(answers)
        one = min([await timed(inventory, hosts[:1], shell) for _ in range(3)], key=lambda r: r[0])
        many = min([await timed(inventory, hosts, shell) for _ in range(3)], key=lambda r: r[0])
        ok = all(h.diff is not None and [c.name for c in h.diff.changed] == ["nginx"]
                 for h in many[1].hosts)  # type: ignore[attr-defined]
        print(f"first run (builds {count} systems): {cold:.2f} s")
        print(f"diff of 1 host:   {one[0] * 1000:7.0f} ms")
        print(f"diff of {count} hosts: {many[0] * 1000:7.0f} ms   (every host: nginx 1.26.2 → 1.27.0 "
              f"{'ok' if ok else 'WRONG'})")
        print(f"ratio {count} hosts / 1 host: {many[0] / one[0]:.2f} (target: within 1.5)")
        print(json.dumps({"hosts": count, "one_ms": round(one[0] * 1000), "many_ms": round(many[0] * 1000),
                          "ratio": round(many[0] / one[0], 2)}))
        return 0 if ok else 1
    finally:
        for out in outs:  # what the bench built (its nonce makes it its own)
            closure = subprocess.run(["nix-store", "-qR", out], capture_output=True, text=True).stdout.split()
            for path in closure:
                subprocess.run(["nix-store", "--delete", path], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=20)
    args = parser.parse_args()
    if shutil.which("nix") is None:
        print("nix is not installed: the diff needs a real evaluation and build; skipped")
        return 0
    os.environ["NIX_CONFIG"] = NIX_CONFIG
    return asyncio.run(main_async(args.hosts))


if __name__ == "__main__":
    sys.exit(main())
