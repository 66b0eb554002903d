"""An emulator of `colmena apply --on NODE [goal]` (Colmena 0.4.0) for tests and the demo.

Configured like the deploy-rs emulator (labtui.sim.emulators: LABTUI_SIM_SCENARIO / LABTUI_SIM_LAB; the node is
the `--on` value). It prints what Colmena's plain progress mode prints (the format of
tests/deploy/logs/colmena/, read from Colmena's source: `{label:>width} | {text}` job lines and `[LEVEL] text`
records, all on stderr), with its clap 4.0 usage errors (exit 2) and exit codes. Colmena has no rollback, so:
- activation-fails: switch-to-configuration fails, exit 1, the host stays on the new generation;
- magic-timeout / magic-timeout-lost (alias breaks-ssh): the switch cuts ssh (exit 255 of the ssh session), exit 1,
  the host stays on the new configuration;
- check-fails: Colmena runs no flake checks, so it succeeds; activation-timeout: just slow;
- a node that is not in the scenario: `[WARN ] No hosts selected.`, exit 0 (what Colmena does).
Lab effects: switch and test make a new current generation, boot adds one for the next boot, dry-activate changes
nothing.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from labtui.sim.emulators import EmulatorConfigError, LabEffects, NodeSpec, SimConfig, load_config, toplevel_path

GOALS = ("build", "push", "switch", "boot", "test", "dry-activate", "keys")
VERSION = "Colmena 0.4.0 (labtui emulator)"
# apply's options that take a value (clap), and the flags (no value); anything else is a usage error.
_VALUED = {"--on", "-f", "--config", "--color", "-p", "--parallel", "--eval-node-limit", "--evaluator"}
_FLAGS = {"-v", "--verbose", "--show-trace", "--impure", "--keep-result", "--no-keys", "--reboot", "--no-substitute",
          "--no-gzip", "--build-on-target", "--no-build-on-target", "--force-replace-unknown-profiles"}


class UsageError(Exception):
    def __init__(self, message: str, *, usage: bool = True) -> None:
        super().__init__(message)
        self.usage = usage  # clap 4.0 prints the usage line for unexpected arguments, not for invalid values


def _usage(error: UsageError) -> int:
    usage = "\nUsage: colmena apply [OPTIONS] [goal]\n" if error.usage else ""
    sys.stderr.write(f"error: {error}\n{usage}\nFor more information try '--help'\n")
    return 2


def _parse(argv: list[str]) -> tuple[str | None, str, str | None]:
    """(--on, goal, --config) of `apply ARGS`; UsageError with clap 4.0's message."""
    on: str | None = None
    goal: str | None = None
    config: str | None = None
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--nix-option":
            i += 3
            continue
        if arg in _VALUED or arg.split("=", 1)[0] in _VALUED:
            name, value = (arg.split("=", 1) + [None])[:2] if "=" in arg else (arg, None)
            if value is None:
                if i + 1 >= len(argv):
                    raise UsageError(f"The argument '{name} <VALUE>' requires a value but none was supplied")
                value = argv[i + 1]
                i += 1
            if name == "--on":
                on = value
            elif name in ("-f", "--config"):
                config = value
            elif name == "--color" and value not in ("auto", "always", "never"):
                raise UsageError(f"'{value}' isn't a valid value for '--color <WHEN>'\n"
                                 "  [possible values: auto, always, never]", usage=False)
        elif arg in _FLAGS:
            pass
        elif arg.startswith("-"):
            raise UsageError(f"Found argument '{arg}' which wasn't expected, or isn't valid in this context\n\n"
                             f"  If you tried to supply '{arg}' as a value rather than a flag, use '-- {arg}'")
        elif goal is None:
            if arg not in GOALS:
                raise UsageError(f"'{arg}' isn't a valid value for '[goal]'\n"
                                 f"  [possible values: {', '.join(GOALS)}]", usage=False)
            goal = arg
        else:
            raise UsageError(f"Found argument '{arg}' which wasn't expected, or isn't valid in this context")
        i += 1
    return on, goal or "switch", config


class Apply:
    def __init__(self, config: SimConfig, node: NodeSpec, goal: str, hive: str) -> None:
        self.config = config
        self.node = node
        self.goal = goal
        self.hive = hive
        self.lab = LabEffects(config.lab)
        self.width = max(5, len(node.name))

    def say(self, text: str) -> None:
        data = (text + "\n").encode()
        while data:
            data = data[os.write(2, data):]

    def job(self, text: str) -> None:
        self.say(f"{self.node.name:>{self.width}} | {text}")

    def meta(self, text: str) -> None:
        self.say(f"{'':>{self.width}} | {text}")

    def pause(self, seconds: float) -> None:
        delay = self.config.scaled(seconds)
        if delay > 0:
            time.sleep(delay)

    def hang_if(self, stage: str, scenario: str) -> None:
        if scenario == "hang" and self.node.hang_stage == stage:
            while True:
                time.sleep(3600)

    def fail(self, summary: str, events: list[str], error: str) -> int:
        """A failed job: the meta job's line, the summary of the job's last events, the troubleshooter."""
        self.meta(f"Failed: {error}")
        time.sleep(self.config.scaled(1.0))  # Colmena's job monitor waits 1 s before the summary ("HACK")
        self.say(f"[ERROR] {summary} {self.node.name} - Last {len(events) + 2} lines of logs:")
        self.say("[ERROR]    state) Running")
        for line in events:
            self.say(f"[ERROR]   stderr) {line}")
        self.say(f"[ERROR]  failure) {error}")
        self.say("[ERROR] Failed to complete requested operation - Last 1 lines of logs:")
        self.say(f"[ERROR]  failure) {error}")
        self.say("[ERROR] -----")
        self.say(f"[ERROR] Operation failed with error: {error}")
        self.say("Hint: Backtrace available - Use `RUST_BACKTRACE=1` environment variable to display a backtrace")
        return 1

    def run(self, total: int) -> int:
        node = self.node
        scenario = node.scenario("system")
        toplevel = toplevel_path(node, self.config.lab)
        drv = f"/nix/store/{toplevel.split('/')[3].split('-', 1)[0][::-1]}-{toplevel.split('-', 1)[1]}.drv"
        target = f"{node.ssh_user or 'root'}@{node.hostname}"
        self.say(f"[INFO ] Selected 1 out of {total} hosts." if total > 1 else "[INFO ] Selected all 1 nodes.")
        self.job(f"Evaluating {node.name}")
        self.hang_if("eval", scenario)
        self.pause(node.duration("eval"))
        if scenario == "eval-fails":
            lines = ["error: The option `services.nginxx' does not exist. Definition values:",
                     f"       - In `/nix/store/1a2b3c4d5f6g7h8i9j0k1l2m3n4p5q6r-source/hosts/{node.name}.nix'",
                     "(use '--show-trace' to show detailed location information)"]
            for line in lines:
                self.job(line)
            self.job("Evaluation failed: Child process exited with error code: 1")
            return self.fail("Failed to evaluate", lines, "Child process exited with error code: 1")
        self.job(f"Evaluated {node.name}")
        self.job(f"Building {node.name}")
        self.job(f"building '{drv}'...")
        self.hang_if("build", scenario)
        self.pause(node.duration("build"))
        if scenario == "build-fails":
            lines = [f"error: builder for '{drv}' failed with exit code 1;", "       last 1 log lines:",
                     '       > nginx: [emerg] unknown directive "serer" in /build/nginx.conf:14',
                     f"       For full logs, run 'nix log {drv}'."]
            for line in lines:
                self.job(line)
            self.job("Build failed: Child process exited with error code: 100")
            return self.fail("Failed to build", lines, "Child process exited with error code: 100")
        self.job(toplevel)
        self.job(f'Built "{toplevel}"')
        if self.goal == "build":
            self.meta("All done!")
            return 0
        self.job("Pushing system closure")
        self.hang_if("push", scenario)
        self.pause(node.duration("push") / 2)
        if scenario == "push-fails":
            lines = [f"ssh: connect to host {node.hostname} port 22: No route to host",
                     f"error: cannot open connection to remote store 'ssh-ng://{target}': "
                     f"error: cannot connect to '{target}'"]
            for line in lines:
                self.job(line)
            self.job("Push failed: Child process exited with error code: 1")
            return self.fail("Failed to push system closure to", lines, "Child process exited with error code: 1")
        self.job("copying 1 paths...")
        self.job(f"copying path '{toplevel}' to 'ssh-ng://{target}'...")
        self.pause(node.duration("push") / 2)
        self.job("Pushed system closure")
        if self.goal == "push":
            self.meta("All done!")
            return 0
        self.job("No pre-activation keys to upload")
        self.job("Activating system profile")
        self.hang_if("activate", scenario)
        if self.goal == "dry-activate":
            self.job("would restart the following units: nginx.service")
            self.pause(node.duration("activate"))
            self.job("Dry activation successful")
            return self.done()
        if self.goal == "boot":
            self.job("updating GRUB 2 menu...")
            self.pause(node.duration("activate"))
            self.lab.apply(node, boot=True, note="colmena")
            self.job("Will be activated next boot")
            return self.done()
        self.job("activating the configuration...")
        self.job("setting up /etc...")
        self.pause(node.duration("activate") / 2)
        self.lab.apply(node, note="colmena")  # no rollback: whatever happens next, this stays
        if scenario in ("magic-timeout", "magic-timeout-lost"):
            self.job("restarting the following units: systemd-networkd.service")
            self.pause(node.duration("activate") / 2)
            line = f"Connection to {node.hostname} closed by remote host."
            self.job(line)
            self.job("Activation failed: Child process exited with error code: 255")
            return self.fail("Failed to deploy to", [line], "Child process exited with error code: 255")
        self.job("reloading user units for root...")
        self.job("restarting sysinit-reactivation.target")
        self.job("restarting the following units: nginx.service")
        self.pause(node.duration("activate") / 2)
        if scenario == "activation-fails":
            self.lab.note(node, "nginx.service", "nginx.service: Failed with result 'exit-code'.", priority=3)
            lines = ["Job for nginx.service failed because the control process exited with error code.",
                     "warning: the following units failed: nginx.service",
                     "warning: error(s) occurred while switching to the new configuration"]
            for line in lines:
                self.job(line)
            self.job("Activation failed: Child process exited with error code: 4")
            return self.fail("Failed to deploy to", lines, "Child process exited with error code: 4")
        self.job("Activation successful (test)" if self.goal == "test" else "Activation successful")
        return self.done()

    def done(self) -> int:
        self.job("No post-activation keys to upload")
        self.meta("All done!")
        return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    if argv[:1] in (["--version"], ["-V"]):
        print(VERSION)
        return 0
    if argv[:1] != ["apply"]:
        sys.stderr.write("colmena (labtui emulator): only `colmena apply` is emulated\n")
        return 2
    try:
        on, goal, hive = _parse(argv[1:])
    except UsageError as exc:
        return _usage(exc)
    try:
        config = load_config()
    except EmulatorConfigError as exc:
        sys.stderr.write(f"colmena (labtui emulator): {exc}\n")
        return 1
    sys.stderr.write(f"[INFO ] Using flake: {hive or 'git+file:///home/me/lab'}\n[INFO ] Enumerating nodes...\n")
    node = config.nodes.get(on or "")
    if node is None:
        sys.stderr.write("[WARN ] No hosts selected.\n      | All done!\n")
        return 0
    return Apply(config, node, goal, hive or "").run(len(config.nodes))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
