"""An emulator of `nixos-rebuild <action> --flake F#host --target-host user@host` for tests and the demo.

Same configuration as the deploy-rs emulator (labtui.sim.emulators): the node is the flake
fragment, its scenario and timing come from LABTUI_SIM_SCENARIO / LABTUI_SIM_LAB. nixos-rebuild
has no rollback, so scenarios end differently than with deploy-rs:
- activation-fails: switch-to-configuration reports failed units, exit 1, the host stays on the new
  generation;
- magic-timeout / magic-timeout-lost (alias breaks-ssh): the switch cuts ssh; the host stays on the
  new configuration and the ssh session ends with 255;
- check-fails: nixos-rebuild runs no flake checks, so it succeeds; activation-timeout: just slow.
Lab effects: switch and test make a new current generation (test is approximated as switch: the
simulated host has no notion of a configuration outside its generations), boot adds the generation
for the next boot, dry-activate and build change nothing.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from typing import NoReturn

from labtui.sim.emulators import EmulatorConfigError, LabEffects, NodeSpec, SimConfig, load_config, toplevel_path

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

    def run(self) -> int:
        a = self.args
        node = self.node
        scenario = node.scenario("system")
        target = a.target_host or node.hostname
        user = target.split("@", 1)[0] if "@" in target else "root"
        toplevel = toplevel_path(node, self.config.lab)
        drv_hash = toplevel.split("/")[3].split("-", 1)[0]
        drv = f"/nix/store/{drv_hash[::-1]}-{toplevel.split('-', 1)[1]}.drv"

        self.say("building the system configuration...")
        self.hang_if("eval", scenario)
        self.pause(node.duration("eval"))
        if scenario == "eval-fails":
            self.say("error:")
            self.say("       … while evaluating the attribute 'config.system.build.toplevel'")
            self.say("")
            self.say("       error: The option `services.nginxx' does not exist. Definition values:")
            self.say(f"       - In `/nix/store/1a2b3c4d5f6g7h8i9j0k1l2m3n4p5q6r-source/hosts/{node.name}.nix'")
            return 1
        self.say("these 2 derivations will be built:")
        self.say(f"  /nix/store/{drv_hash[1:] + drv_hash[0]}-etc.drv")
        self.say(f"  {drv}")
        self.say(f"building '/nix/store/{drv_hash[1:] + drv_hash[0]}-etc.drv'...")
        self.hang_if("build", scenario)
        self.pause(node.duration("build") / 2)
        if scenario == "build-fails":
            self.say(f"error: builder for '/nix/store/{drv_hash[1:] + drv_hash[0]}-etc.drv' failed with exit code 1;")
            self.say("       last 1 log lines:")
            self.say('       > nginx: [emerg] unknown directive "serer" in /build/nginx.conf:14')
            self.say(f"error: 1 dependencies of derivation '{drv}' failed to build")
            return 1
        self.say(f"building '{drv}'...")
        self.pause(node.duration("build") / 2)
        if a.action in ("build", "dry-build"):
            self.say(f"Done. The new configuration is {toplevel}")
            return 0
        if a.target_host:
            self.say("copying 2 paths...")
            self.hang_if("push", scenario)
            self.pause(node.duration("push") / 2)
            if scenario == "push-fails":
                self.say(f"ssh: connect to host {target.split('@')[-1]} port 22: No route to host")
                self.say(f"error: failed to start SSH connection to '{target}'")
                return 1
            self.say(f"copying path '{toplevel}' to 'ssh://{target}'...")
            self.pause(node.duration("push") / 2)
        if a.action in ("switch", "boot", "test") and user != "root" and not a.sudo:
            self.say("error: opening lock file '/nix/var/nix/profiles/system.lock': Permission denied")
            return 1
        self.hang_if("activate", scenario)
        if a.action == "dry-activate":
            self.say("would restart the following units: nginx.service")
            self.pause(node.duration("activate"))
            return 0
        if a.action == "boot":
            self.say("updating GRUB 2 menu...")
            self.pause(node.duration("activate"))
            if scenario == "activation-fails":
                self.say("Failed to install bootloader")
                self.say("warning: error(s) occurred while switching to the new configuration")
                self.lab.apply(node, boot=True)
                return 1
            self.lab.apply(node, boot=True)
            return 0
        self.say("activating the configuration...")
        self.say("setting up /etc...")
        self.pause(node.duration("activate") / 2)
        self.lab.apply(node)  # nixos-rebuild has no rollback: whatever happens next, this stays
        if scenario in ("magic-timeout", "magic-timeout-lost"):
            self.say("restarting the following units: systemd-networkd.service")
            self.pause(node.duration("activate") / 2)
            self.say(f"Connection to {target.split('@')[-1]} closed by remote host.")
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
