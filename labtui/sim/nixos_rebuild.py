"""An emulator of the bash `nixos-rebuild <action> --flake F#host --target-host user@host` for tests and the demo.

It prints what the real script of nixpkgs prints with Nix 2.8 (tests/deploy/logs/real/nixos-rebuild;
docs/deploy-rs-output.md §14): `building the system configuration...`, one `building '…'` per derivation, nix-copy-
closure's `copying N paths...` and one line per path (nothing before a connection failure), ssh's `Pseudo-terminal will
not be allocated…` for each of its `ssh -t` commands when stdin is not a terminal (`Shared connection … closed.` when
it is), switch-to-configuration's lines (a NixOS host's), and on a failed switch the warning twice (the host's, then
the script's own). Same configuration as the deploy-rs emulator (labtui.sim.emulators): the node is the flake fragment,
its scenario and timing come from LABTUI_SIM_SCENARIO / LABTUI_SIM_LAB. nixos-rebuild has no rollback, so scenarios
end differently than with deploy-rs:
- activation-fails: switch-to-configuration reports failed units, exit 1, the host stays on the new generation;
- magic-timeout / magic-timeout-lost (alias breaks-ssh): the switch cuts ssh; the host stays on the new
  configuration and the ssh session ends with 255;
- a node with `no_sudo` and `--use-remote-sudo`: `bash: line 1: sudo: command not found` at the profile, exit 127;
- check-fails: nixos-rebuild runs no flake checks, so it succeeds; activation-timeout: just slow.
Lab effects: switch and test make a new current generation (test is approximated as switch: the simulated host has no
notion of a configuration outside its generations), boot adds the generation for the next boot, dry-activate and
build change nothing.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from typing import NoReturn

from labtui.sim.emulators import EmulatorConfigError, LabEffects, NodeSpec, SimConfig, load_config, toplevel_path
from labtui.sim.state import fake_store_path

ACTIONS = ("switch", "boot", "test", "build", "dry-build", "dry-activate")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse's own format, exit 2 (like nixos-rebuild-ng)
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="nixos-rebuild", add_help=True)
    p.add_argument("action", choices=ACTIONS)
    p.add_argument("--flake", required=True, metavar="FLAKE#HOST")
    p.add_argument("--target-host")
    p.add_argument("--build-host")
    p.add_argument("--use-remote-sudo", "--sudo", action="store_true", dest="sudo")
    p.add_argument("--ask-sudo-password", "-S", action="store_true")
    p.add_argument("--show-trace", action="store_true")
    p.add_argument("--fast", "--no-reexec", action="store_true")
    p.add_argument("--use-substitutes", "-s", action="store_true")
    p.add_argument("--print-build-logs", "-L", action="store_true")
    p.add_argument("--verbose", "-v", action="count", default=0)
    p.add_argument("--option", nargs=2, action="append", metavar=("NAME", "VALUE"))
    return p


class Rebuild:
    def __init__(self, args: argparse.Namespace, config: SimConfig, node: NodeSpec) -> None:
        self.args = args
        self.config = config
        self.node = node
        self.lab = LabEffects(config.lab)

    def say(self, text: str) -> None:
        data = (text + "\n").encode()
        while data:
            data = data[os.write(2, data):]

    def pause(self, seconds: float) -> None:
        delay = self.config.scaled(seconds)
        if delay > 0:
            time.sleep(delay)

    def hang_if(self, stage: str, scenario: str) -> None:
        if scenario == "hang" and self.node.hang_stage == stage:
            while True:
                time.sleep(3600)

    def remote(self, target: str) -> None:
        """The script runs each remote command with `ssh -t`: without a terminal on stdin, ssh says so (as it does
        under labtui); with one, ssh closes the shared connection's session when the command ends."""
        if not os.isatty(0):
            self.say("Pseudo-terminal will not be allocated because stdin is not a terminal.\r")

    def remote_done(self, target: str) -> None:
        if os.isatty(0):
            self.say(f"Shared connection to {target.split('@')[-1]} closed.\r")

    def run(self) -> int:
        a = self.args
        node = self.node
        scenario = node.scenario("system")
        target = a.target_host or node.hostname
        user = target.split("@", 1)[0] if "@" in target else "root"
        host = target.split("@")[-1]
        toplevel = toplevel_path(node, self.config.lab)
        drv_hash = toplevel.split("/")[3].split("-", 1)[0]
        drv = f"/nix/store/{drv_hash[::-1]}-{toplevel.split('-', 1)[1]}.drv"
        etc_drv = f"/nix/store/{drv_hash[1:] + drv_hash[0]}-etc.drv"

        self.say("building the system configuration...")
        self.hang_if("eval", scenario)
        self.pause(node.duration("eval"))
        if scenario == "eval-fails":  # Nix 2.8 prints no `… while evaluating` trace for this
            self.say("error: The option `services.nginxx' does not exist. Definition values:")
            self.say(f"       - In `/nix/store/1a2b3c4d5f6g7h8i9j0k1l2m3n4p5q6r-source/hosts/{node.name}.nix'")
            return 1
        # Nix 2.8: one `building` line per derivation, no `these N derivations will be built:` header
        self.say(f"building '{etc_drv}'...")
        self.hang_if("build", scenario)
        self.pause(node.duration("build") / 2)
        if scenario == "build-fails":
            self.say(f"error: builder for '{etc_drv}' failed with exit code 1;")
            self.say("       last 2 log lines:")
            self.say('       > nginx: [emerg] unknown directive "serer" in /build/nginx.conf:14')
            self.say("       > nginx: configuration file /build/nginx.conf test failed")
            self.say(f"       For full logs, run 'nix log {etc_drv}'.")
            self.say(f"error: 1 dependencies of derivation '{drv}' failed to build")
            return 1
        self.say(f"building '{drv}'...")
        self.pause(node.duration("build") / 2)
        if a.action in ("build", "dry-build"):
            return 0
        if a.target_host:
            self.hang_if("push", scenario)
            self.pause(node.duration("push") / 2)
            if scenario == "push-fails":  # nix-copy-closure connects before it prints anything
                self.say(f"ssh: connect to host {host} port 22: Connection timed out")
                self.say(f"error: cannot connect to '{target}'")
                return 1
            kernel = fake_store_path(f"linux-{node.kernel or '6.6.61'}")
            self.say("copying 2 paths...")  # Nix 2.8: the count, then one line per path
            self.say(f"copying path '{kernel}' to 'ssh://{target}'...")
            self.say(f"copying path '{toplevel}' to 'ssh://{target}'...")
            self.pause(node.duration("push") / 2)
        if a.action in ("switch", "boot"):  # nix-env -p /nix/var/nix/profiles/system --set …
            self.remote(target)
            if a.sudo and node.no_sudo:
                self.say("bash: line 1: sudo: command not found")
                return 127
            if user != "root" and not a.sudo:
                self.say("error: opening lock file '/nix/var/nix/profiles/system.lock': Permission denied")
                return 1
            self.remote_done(target)
        self.remote(target)  # the systemd-run probe (silent on NixOS)
        self.remote_done(target)
        self.remote(target)  # switch-to-configuration
        self.hang_if("activate", scenario)
        code = self.switch(node, scenario, target, user)
        self.remote_done(target)
        if code == 1:
            self.say("warning: error(s) occurred while switching to the new configuration")  # the script's own
        return code

    def switch(self, node: NodeSpec, scenario: str, target: str, user: str) -> int:
        """switch-to-configuration on a NixOS host (the testbed's stub prints one line)."""
        a = self.args
        if a.action == "dry-activate":
            self.say("would restart the following units: nginx.service")
            self.say("would activate the configuration...")
            self.pause(node.duration("activate"))
            return 0
        if a.action == "boot":
            self.say("updating GRUB 2 menu...")
            self.pause(node.duration("activate"))
            self.lab.apply(node, boot=True)
            if scenario == "activation-fails":
                self.say("Failed to install bootloader")
                self.say("warning: error(s) occurred while switching to the new configuration")
                return 1
            return 0
        self.say("activating the configuration...")
        self.say("setting up /etc...")
        self.pause(node.duration("activate") / 2)
        self.lab.apply(node)  # nixos-rebuild has no rollback: whatever happens next, this stays
        if scenario in ("magic-timeout", "magic-timeout-lost"):
            self.say("restarting the following units: systemd-networkd.service")
            self.pause(node.duration("activate") / 2)
            self.say(f"Connection to {target.split('@')[-1]} closed by remote host.\r")
            return 255
        self.say(f"reloading user units for {user}...")
        self.say("restarting sysinit-reactivation.target")
        self.say("restarting the following units: nginx.service")
        self.pause(node.duration("activate") / 2)
        if scenario == "activation-fails":
            self.lab.note(node, "nginx.service", "nginx.service: Failed with result 'exit-code'.", priority=3)
            self.say("Job for nginx.service failed because the control process exited with error code.")
            self.say('See "systemctl status nginx.service" and "journalctl -xeu nginx.service" for details.')
            self.say("warning: the following units failed: nginx.service")
            self.say("warning: error(s) occurred while switching to the new configuration")
            return 1
        return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    args = _parser().parse_args(argv)
    flake, _, host = args.flake.partition("#")
    if not host:
        sys.stderr.write("nixos-rebuild (labtui emulator): give the host as --flake FLAKE#HOST\n")
        return 1
    try:
        config = load_config()
    except EmulatorConfigError as exc:
        sys.stderr.write(f"nixos-rebuild (labtui emulator): {exc}\n")
        return 1
    node = config.nodes.get(host.strip('"'))
    if node is None:
        sys.stderr.write(f"error: flake '{flake}' does not provide attribute "
                         f"'nixosConfigurations.\"{host}\".config.system.build.toplevel'\n")
        return 1
    return Rebuild(args, config, node).run()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
