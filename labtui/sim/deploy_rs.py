"""An emulator of deploy-rs's `deploy` (commit d5eff7f), for tests and the demo.

Faithful to the behaviour described in docs/deploy-rs-output.md and to what the real deploy-rs 1.0 (clap 4.0, toml
0.5) prints with Nix 2.8 (tests/deploy/logs/real; docs/deploy-rs-output.md §13 lists what was fixed to match it): clap
usage errors (exit 2, bool options need `true`/`false`; see labtui.sim.deploy_rs_args), the strictly sequential stages
(all checks, all evaluations, the plan, all builds, all pushes, then one activation after the other), every log record
with its emoji and ANSI colour on the right stream (log records on stderr, the `> ` prompt and `Log is written to` on
stdout), the `--interactive` prompt with its yes/no answer rules, interactive sudo on /dev/tty, magic rollback with its
canary, confirmation, panic noise and orphaned ssh children (a `wait` after an activation failure, the target's own
rollback after an activation timeout), auto rollback, revocation of succeeded profiles and the exit codes and error
texts, including deploy-rs's own bugs (`Failed to build profile on node web1: web1`). Timing is scaled by
`time_scale`. Switch-to-configuration prints what a NixOS host prints (the testbed's stub prints one line).
Configuration: see labtui.sim.emulators.

About 600 lines on purpose: one emulated run whose stages share its state (the Emulator class); the command line
lives in deploy_rs_args.py.
"""

from __future__ import annotations

import datetime
import os
import random
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from labtui.sim.deploy_rs_args import Args, DeployFailed, Usage, parse_args, parse_fragment, split_target
from labtui.sim.emulators import (
    EmulatorConfigError,
    LabEffects,
    NodeSpec,
    SimConfig,
    load_config,
    local_user,
    profile_path,
    toplevel_path,
)

SOURCE = {"deploy": "\U0001F680", "activate": "\u2B50", "wait": "\U0001F440", "revoke": "\u21A9\uFE0F"}
LEVEL = {"ERROR": ("\u274C", 196), "WARN": ("\u26A0\uFE0F", 208), "INFO": ("\u2139\uFE0F", 51),
         "DEBUG": ("\u2753", 7), "TRACE": ("\U0001F58A\uFE0F", 8)}
MODULE = {"cli": "deploy::cli", "push": "deploy::push", "deploy": "deploy::deploy"}
DEFAULT_STAGE = 1.0  # seconds of a stage when no node says otherwise


# --------------------------------------------------------------------------- output


class Out:
    """deploy-rs's logger: `<SRC> <LVL> [<tag>] [<LEVEL>] msg` on stderr, one write per record."""

    def __init__(self, *, ansi: bool, debug: bool, log_file: str | None) -> None:
        self.ansi = ansi
        # RUST_LOG overrides the level of the local process (with_env_or_str)
        self.debug = debug or os.environ.get("RUST_LOG", "").lower() in ("debug", "trace")
        self.colours = {level: colour for level, (_emoji, colour) in LEVEL.items()}
        palette = os.environ.get("FLEXI_LOGGER_PALETTE", "")
        if palette:  # "error;warn;info;debug;trace" as 256-colour numbers
            for level, value in zip(("ERROR", "WARN", "INFO", "DEBUG", "TRACE"), palette.split(";"), strict=False):
                if value.strip().isdigit():
                    self.colours[level] = int(value)
        self.log_file = open(log_file, "a", encoding="utf-8") if log_file else None  # noqa: SIM115

    def _write(self, fd: int, text: str) -> None:
        data = text.encode("utf-8")
        while data:
            written = os.write(fd, data)
            data = data[written:]

    def log(self, tag: str, level: str, message: str, module: str = "cli") -> None:
        if self.log_file is not None and tag == "deploy":
            self.log_file.write(f"{level} [{MODULE.get(module, 'deploy::cli')}] {message}\n")
            self.log_file.flush()
        if level in ("DEBUG", "TRACE") and not self.debug:
            return
        emoji = LEVEL[level][0]
        word = f"\x1b[38;5;{self.colours[level]}m{level}\x1b[0m" if self.ansi else level
        self._write(2, f"{SOURCE[tag]} {emoji} [{tag}] [{word}] {message}\n")

    def raw(self, text: str) -> None:
        """Child output (nix, ssh, switch-to-configuration) inherited on stderr."""
        self._write(2, text + "\n")

    def stdout(self, text: str) -> None:
        self._write(1, text)


@dataclass
class Job:
    """One profile to deploy, with its merged settings (flake + CLI overrides)."""

    node: NodeSpec
    profile: str
    repo: str
    path: str
    ssh_user: str
    user: str
    hostname: str  # as in the flake (plan, sudo prompt)
    magic_rollback: bool
    auto_rollback: bool
    confirm_timeout: int
    activation_timeout: int | None
    interactive_sudo: bool
    remote_build: bool
    ssh_opts: list[str]
    password: str | None = None
    generation: int = 0

    @property
    def scenario(self) -> str:
        return self.node.scenario(self.profile)


def _toml_key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def plan_toml(jobs: list[Job]) -> str:
    """`toml::to_string` of deploy-rs's PromptPart map (toml 0.5, as the observed build: no empty line between
    tables; the log record's newline leaves one after the last)."""
    tables = []
    for job in jobs:
        opts = ", ".join(_toml_str(o) for o in job.ssh_opts)
        tables.append(f"[{_toml_key(job.node.name)}.{_toml_key(job.profile)}]\n"
                      f"user = {_toml_str(job.user)}\nssh_user = {_toml_str(job.ssh_user)}\n"
                      f"path = {_toml_str(job.path)}\nhostname = {_toml_str(job.hostname)}\nssh_opts = [{opts}]\n")
    return "".join(tables)


def _yn(text: str) -> str:
    """yn 0.1 as deploy-rs uses it (docs/deploy-rs-output.md §8): "yes", "maybe" (somewhat yes), "no" or "unclear"."""
    stripped = "".join(c for c in text if c.isalpha() or c in "01 ")
    words = [w.lower() for w in stripped.split()]
    if stripped in ("y", "yes") or any(w in ("yes", "true", "1") for w in words):
        return "yes"
    if any(w in ("y", "yes", "true", "1") for w in words):
        return "maybe"
    if stripped in ("n", "no") or any(w in ("no", "false", "0") for w in words):
        return "no"
    return "unclear"


def read_tty_password(prompt: str) -> str:
    """rpassword 7: prompt on /dev/tty, read with echo off; no terminal → empty password, silently."""
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return ""
    try:
        import termios

        # Echo goes off before the prompt is shown, so an answer typed (or written by labtui) the
        # moment the prompt appears is never echoed; TCSANOW, not TCSAFLUSH, so it is not discarded.
        try:
            old = termios.tcgetattr(fd)
            new = list(old)
            new[3] &= ~termios.ECHO
            termios.tcsetattr(fd, termios.TCSANOW, new)
        except termios.error:
            old = None
        os.write(fd, prompt.encode())
        try:
            data = b""
            while not data.endswith(b"\n"):
                chunk = os.read(fd, 1)
                if not chunk:
                    break
                data += chunk
        finally:
            if old is not None:
                termios.tcsetattr(fd, termios.TCSANOW, old)
            os.write(fd, b"\n")
        return data.decode(errors="replace").rstrip("\r\n")
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- the run


class Emulator:
    def __init__(self, args: Args, config: SimConfig) -> None:
        self.args = args
        self.config = config
        self.lab = LabEffects(config.lab)
        log_file = None
        if args.log_dir:
            os.makedirs(args.log_dir, exist_ok=True)
            stamp = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
            log_file = os.path.join(args.log_dir, f"deploy_{stamp}.log")
        self.out = Out(ansi=config.ansi, debug=args.debug_logs, log_file=log_file)
        self.log_file = log_file

    # helpers
    def info(self, message: str, module: str = "cli") -> None:
        self.out.log("deploy", "INFO", message, module)

    def debug(self, message: str, module: str = "cli") -> None:
        self.out.log("deploy", "DEBUG", message, module)

    def remote(self, tag: str, level: str, message: str) -> None:
        self.out.log(tag, level, message)

    def pause(self, seconds: float) -> None:
        delay = self.config.scaled(seconds)
        if delay > 0:
            time.sleep(delay)

    def hang(self) -> None:
        """Silent forever, like deploy-rs stuck on an ssh ControlMaster (#226): only a signal ends it."""
        while True:
            time.sleep(3600)

    def run(self) -> int:
        a = self.args
        try:
            if a.dry_activate and a.boot:
                self.out.log("deploy", "ERROR", "Cannot use both --dry-activate & --boot!")
            self.debug("Checking for flake support")
            if a.file:
                self.out.log("deploy", "WARN", "The --file option for deployments without flakes is experimental")
            if self.log_file:
                self.out.stdout(f"Log is written to {self.log_file}\n")
            targets = a.targets or [a.target or "."]
            if a.file:  # non-flake mode: targets are attribute paths of FILE
                parsed = [(a.file, *parse_fragment(t if t != "." else "")) for t in targets]
            else:
                parsed = [split_target(t) for t in targets]
            if not a.skip_checks:
                for repo, _node, _profile in parsed:
                    self.check(repo)
            jobs: list[Job] = []
            for repo, node, profile in parsed:
                self.evaluate(repo, node, profile)
                jobs += self.resolve(repo, node, profile)
            for job in jobs:
                if job.interactive_sudo:
                    self.ask_sudo(job)
            self.info(f"The following profiles are going to be deployed:\n{plan_toml(jobs)}")
            if a.interactive:
                self.prompt()
            for job in jobs:
                self.build(job)
            if not a.remote_build:
                for job in jobs:
                    if not job.remote_build:
                        self.push(job)
            self.activate_all(jobs)
            return 0
        except DeployFailed as exc:
            self.out.log("deploy", "ERROR", str(exc))
            return 1

    def nodes_of(self, node: str | None) -> list[NodeSpec]:
        if node is None:
            return list(self.config.nodes.values())
        spec = self.config.nodes.get(node)
        return [spec] if spec else []

    def check(self, repo: str) -> None:
        self.info(f"Running checks for flake in {repo}")
        self.out.raw("evaluating flake...")  # Nix 2.8's `nix flake check`
        self.out.raw("warning: unknown flake output 'deploy'")
        nodes = list(self.config.nodes.values())  # `nix flake check` builds every profile of every node
        if any(n.default_scenario == "hang" and n.hang_stage == "check" for n in nodes):
            self.hang()
        self.pause(max((n.duration("check") for n in nodes), default=DEFAULT_STAGE))
        if any("check-fails" in (n.default_scenario, *n.scenarios.values()) for n in nodes):
            drv = "/nix/store/8h9j0k1l2m3n4p5q6r7s8v9w0x1y2z3a-jsonschema-deploy-system.drv"
            self.out.raw("running flake checks...")
            self.out.raw(f"building '{drv}'...")
            self.out.raw(f"error: builder for '{drv}' failed with exit code 1;")
            self.out.raw("       last 2 log lines:")
            self.out.raw("       > /build/deploy.json: 'hostnme' is not one of "
                         "['hostname', 'profiles', 'profilesOrder']")
            self.out.raw("       > Schema validation errors were encountered.")
            self.out.raw(f"       For full logs, run 'nix log {drv}'.")
            # Nix 2.8's `nix flake check` exits 100 when a check's build fails
            raise DeployFailed("Failed to check deployment: Nix checking command resulted in a bad exit code: "
                               "Some(100)")

    def evaluate(self, repo: str, node: str | None, profile: str | None) -> None:
        self.info(f"Evaluating flake in {repo}")
        nodes = self.nodes_of(node) or list(self.config.nodes.values())
        if any(n.default_scenario == "hang" and n.hang_stage == "eval" for n in nodes):
            self.hang()
        self.pause(max((n.duration("eval") for n in nodes), default=DEFAULT_STAGE))
        if any("eval-fails" in (n.default_scenario, *n.scenarios.values()) for n in nodes):
            # Nix 2.8's form (a newer Nix adds `… while evaluating` trace lines)
            self.out.raw("error: undefined variable 'nginxx'")
            self.out.raw("")
            self.out.raw("       at /nix/store/1a2b3c4d5f6g7h8i9j0k1l2m3n4p5q6r-source/hosts/"
                         f"{nodes[0].name}.nix:12:23:")
            self.out.raw("")
            self.out.raw("           11|   services.nginx = {")
            self.out.raw("           12|     enable = nginxx;")
            self.out.raw("             |              ^")
            raise DeployFailed("Failed to evaluate deployment data: Evaluation resulted in a bad exit code: Some(1)")

    def resolve(self, repo: str, node: str | None, profile: str | None) -> list[Job]:
        a = self.args
        if node is None:
            specs = list(self.config.nodes.values())
            if self.config.random_order:
                random.shuffle(specs)  # Rust HashMap order: random per process
        else:
            spec = self.config.nodes.get(node)
            if spec is None:
                raise DeployFailed(f"No node named `{node}` was found")
            specs = [spec]
        jobs = []
        for spec in specs:
            profiles = spec.profiles
            if profile is not None:
                if profile not in spec.profiles:
                    raise DeployFailed(f"No profile named `{profile}` was found")
                profiles = [profile]
            for name in profiles:
                ssh_user = a.ssh_user or spec.ssh_user or local_user()
                job = Job(
                    node=spec, profile=name, repo=repo, path=profile_path(spec, name, self.config.lab),
                    ssh_user=ssh_user, user=a.profile_user or spec.user or ("root" if name == "system" else ssh_user),
                    hostname=spec.hostname,
                    magic_rollback=spec.magic_rollback if a.magic_rollback is None else a.magic_rollback,
                    auto_rollback=spec.auto_rollback if a.auto_rollback is None else a.auto_rollback,
                    confirm_timeout=spec.confirm_timeout if a.confirm_timeout is None else a.confirm_timeout,
                    activation_timeout=(spec.activation_timeout if a.activation_timeout is None
                                        else a.activation_timeout),
                    interactive_sudo=spec.interactive_sudo if a.interactive_sudo is None else a.interactive_sudo,
                    remote_build=spec.remote_build or a.remote_build,
                    ssh_opts=a.ssh_opts.split(" ") if a.ssh_opts is not None else list(spec.ssh_opts))
                job.generation = self.lab.next_generation(spec)
                jobs.append(job)
        return jobs

    def ask_sudo(self, job: Job) -> None:
        # (--sudo is parsed but ignored at d5eff7f: no "Custom sudo commands" warning for it)
        self.out.log("deploy", "WARN", "Interactive sudo is enabled! Using a sudo password is less secure than "
                     "correctly configured SSH keys.\nPlease use keys in production environments.")
        self.info(f"You will now be prompted for the sudo password for {job.hostname}.")
        job.password = read_tty_password(f"(sudo for {job.hostname}) Password: ")

    def prompt(self) -> None:
        self.info("Are you sure you want to deploy these profiles?")
        answer = self._ask()
        if answer == "maybe":
            self.info('Sounds like you might want to continue, to be more clear please just say "yes". '
                      "Do you want to deploy these profiles?")
            if self._ask() == "yes":
                return
            raise DeployFailed("User cancelled deployment")
        if answer == "yes":
            return
        if answer == "unclear":
            self.info('That was unclear, but sounded like a no to me. Please say "yes" or "no" to be more clear.')
        raise DeployFailed("User cancelled deployment")

    def _ask(self) -> str:
        self.out.stdout("> ")
        line = sys.stdin.readline()
        return _yn(line) if line else "unclear"

    def build(self, job: Job) -> None:
        self.debug(f"Finding the deriver of store path for {job.path}", "push")
        where = " on remote host" if job.remote_build else ""
        self.info(f"Building profile `{job.profile}` for node `{job.node.name}`{where}", "push")
        if job.scenario == "hang" and job.node.hang_stage == "build":
            self.hang()
        toplevel = toplevel_path(job.node, self.config.lab)
        drv_hash = toplevel.split("/")[3].split("-", 1)[0]
        drv = f"/nix/store/{drv_hash[::-1]}-{toplevel.split('-', 1)[1]}.drv"
        profile_hash, profile_name = job.path.split("/")[3].split("-", 1)
        profile_drv = f"/nix/store/{profile_hash[::-1]}-{profile_name}.drv"
        # Nix 2.8: one `building` line per derivation (the system, then the activatable profile), no header
        self.out.raw(f"building '{drv}'...")
        self.pause(job.node.duration("build") / 2)
        self.out.raw(f"building '{profile_drv}'...")
        if job.scenario == "build-fails":
            self.out.raw(f"error: builder for '{profile_drv}' failed with exit code 1;")
            self.out.raw("       last 2 log lines:")
            self.out.raw('       > nginx: [emerg] unknown directive "serer" in /build/nginx.conf:14')
            self.out.raw("       > nginx: configuration file /build/nginx.conf test failed")
            self.out.raw(f"       For full logs, run 'nix log {profile_drv}'.")
            raise DeployFailed(f"Failed to build profile on node {job.node.name}: {job.node.name}")
        self.pause(job.node.duration("build") / 2)
        if os.environ.get("LOCAL_KEY"):
            self.info(f"Signing key present! Signing profile `{job.profile}` for node `{job.node.name}`", "push")

    def push(self, job: Job) -> None:
        name = job.node.name
        self.info(f"Copying profile `{job.profile}` to node `{name}`", "push")
        if job.scenario == "hang" and job.node.hang_stage == "push":
            self.hang()
        host = self.args.hostname or job.hostname
        self.pause(job.node.duration("push") / 2)
        if job.scenario == "push-fails":  # Nix 2.8's legacy ssh store: ssh's error, then nix's
            self.out.raw(f"ssh: connect to host {host} port 22: Connection timed out")
            self.out.raw(f"error: cannot connect to '{job.ssh_user}@{host}'")
            raise DeployFailed(f"Failed to push profile to node {name}: {name}")
        # Nix 2.8: the count, then one line per path
        paths = [toplevel_path(job.node, self.config.lab), job.path] if job.profile == "system" else [job.path]
        self.out.raw(f"copying {len(paths)} paths...")
        for path in paths:
            self.out.raw(f"copying path '{path}' to 'ssh://{job.ssh_user}@{host}'...")
        self.pause(job.node.duration("push") / 2)

    # ------------------------------------------------------------------ activation (docs/deploy-rs-output.md §6-§7)

    def activate_all(self, jobs: list[Job]) -> None:
        a = self.args
        succeeded: list[Job] = []
        for job in jobs:
            error = self.activate(job)
            if error is None:
                succeeded.append(job)
                continue
            self.out.log("deploy", "ERROR", error)
            if a.dry_activate:
                self.info("dry run, not rolling back")
            if (a.rollback_succeeded is None or a.rollback_succeeded) and a.auto_rollback is not False:
                self.info("Revoking previous deploys")
                for done in succeeded:
                    if done.auto_rollback:
                        self.revoke(done)
                raise DeployFailed(f"Deployment to node {job.node.name} failed, rolled back to previous generation")
            raise DeployFailed(f"Failed to deploy profile to node {job.node.name}: {error}")

    def _commands(self, job: Job) -> tuple[str, str, str]:
        sudo = "" if job.user == job.ssh_user else f"sudo -u {job.user} "
        if job.interactive_sudo:
            sudo = 'sudo -u root -S -p "" ' if job.user != job.ssh_user else 'sudo -S -p "" '
        debug = "--debug-logs " if self.args.debug_logs else ""
        log_dir = f"--log-dir {self.args.log_dir} " if self.args.log_dir else ""
        who = (f"--profile-user {job.user} --profile-name {job.profile}")
        flags = " --magic-rollback" if job.magic_rollback else ""
        flags += " --auto-rollback" if job.auto_rollback else ""
        flags += " --dry-activate" if self.args.dry_activate else ""
        flags += " --boot" if self.args.boot and not self.args.dry_activate else ""
        activate = (f"{sudo}{job.path}/activate-rs {debug}{log_dir}activate '{job.path}' {who} --temp-path '/tmp' "
                    f"--confirm-timeout {job.confirm_timeout}{flags}")
        timeout = f" --activation-timeout {job.activation_timeout}" if job.activation_timeout is not None else ""
        wait = f"{sudo}{job.path}/activate-rs {debug}{log_dir}wait '{job.path}' --temp-path '/tmp'{timeout}"
        revoke = f"{sudo}{job.path}/activate-rs {debug}{log_dir}revoke {who}"
        return activate, wait, revoke

    def _switch_output(self, job: Job, *, failing: bool) -> None:
        half = job.node.duration("activate") / 2
        self.out.raw("activating the configuration...")
        self.out.raw("setting up /etc...")
        self.pause(half)
        self.out.raw(f"reloading user units for {job.ssh_user}...")
        self.out.raw("restarting sysinit-reactivation.target")
        self.out.raw("restarting the following units: nginx.service")
        if failing:
            self.out.raw("Job for nginx.service failed because the control process exited with error code.")
            self.out.raw('See "systemctl status nginx.service" and "journalctl -xeu nginx.service" for details.')
            self.out.raw("warning: the following units failed: nginx.service")
            self.out.raw("warning: error(s) occurred while switching to the new configuration")
        self.pause(half)

    def _remote_log_path(self, command: str) -> None:
        """With --log-dir the target's activate-rs logs to a file too and says so on its stdout."""
        if self.args.log_dir:
            stamp = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
            self.out.stdout(f"Log is written to {self.args.log_dir}/activate_{command}_{stamp}.log\n")

    def _deactivate(self, tag: str, job: Job, generation: int) -> None:
        """activate.rs:146-222, on the target."""
        if tag == "revoke":
            self._remote_log_path("revoke")
        self.remote(tag, "WARN", "De-activating due to error")
        self.out.raw(f"switching profile from version {generation} to {generation - 1}")
        self.remote(tag, "DEBUG", "Listing generations")
        self.remote(tag, "WARN", f"Removing generation by ID {generation}")
        self.out.raw(f"removing profile version {generation}")
        self.remote(tag, "INFO", "Attempting to re-activate the last generation")
        self.out.raw("activating the configuration...")
        self.out.raw("setting up /etc...")
        self.pause(job.node.duration("activate") / 4)

    def activate(self, job: Job) -> str | None:
        """One profile's activation; None on success, else the DeployProfileError text."""
        a = self.args
        node = job.node
        scenario = job.scenario
        activate_cmd, wait_cmd, _revoke = self._commands(job)
        dry = a.dry_activate
        boot = a.boot and not dry
        magic = job.magic_rollback and not dry and not boot
        if not dry:
            self.info(f"Activating profile `{job.profile}` for node `{node.name}`", "deploy")
        self.debug(f"Constructed activation command: {activate_cmd}", "deploy")
        if magic:
            self.info("Creating activation waiter", "deploy")
            self.debug(f"Constructed wait command: {wait_cmd}", "deploy")
        if job.node.sudo_password is not None and job.interactive_sudo and job.password != job.node.sudo_password:
            self.out.raw("sudo: 1 incorrect password attempt")
            return "Activating over SSH resulted in a bad exit code: Some(1)"
        if dry:
            self.out.raw("would restart the following units: nginx.service")
            self.out.raw("would start the following units: prometheus-node-exporter.service")
            self.pause(node.duration("activate"))
            self.info("Completed dry-activate!", "deploy")
            return None
        self._remote_log_path("activate")
        # `wait` connects in parallel with `activate`: its first line comes before or (mostly) after the target's
        # `Activating profile`, and none at all when the activation creates the canary first (recorded).
        waits = magic and not node.canary_exists
        self.remote("activate", "INFO", "Activating profile")
        if waits:
            self._remote_log_path("wait")
            self.remote("wait", "INFO", "Waiting for confirmation event...")
        self.remote("activate", "DEBUG", "Running activation script")
        if scenario == "hang" and node.hang_stage in ("activate", "confirm"):
            self.hang()
        generation = job.generation
        if scenario == "activation-fails":
            if boot:
                self.out.raw("updating GRUB 2 menu...")
                self.out.raw("Failed to install bootloader")
                self.pause(node.duration("activate"))
            else:
                self._switch_output(job, failing=True)
            self.lab.note(node, "nginx.service", "nginx.service: Failed with result 'exit-code'.", priority=3)
            if job.auto_rollback:
                self._deactivate("activate", job, generation)
            elif job.profile == "system":
                self.lab.apply(node, boot=boot)  # nothing undone: the host stays on the new generation
            self.remote("activate", "ERROR", "The activation script resulted in a bad exit code: Some(4)")
            if magic:
                self.debug("Activate command exited with an error", "deploy")
                self._orphan_wait(job)
            return "Activating over SSH resulted in a bad exit code: Some(1)"
        if scenario == "magic-timeout-lost" and magic:
            # The activation's ssh session dies right after the switch (recorded: killed-session-now): activate-rs
            # dies with it, nothing rolls the host back, and deploy-rs still says it rolled back.
            self.out.raw("activating the configuration...")
            self.out.raw("setting up /etc...")
            self.out.raw("restarting the following units: systemd-networkd.service")
            self.pause(node.duration("activate"))
            if job.profile == "system":
                self.lab.apply(node, boot=boot)
            self.out.raw(f"Connection to {self.args.hostname or job.hostname} closed by remote host.\r")
            self.debug("Activate command exited with an error", "deploy")
            self.lab.note(node, "deploy-rs", "the activation's ssh session died; the host kept the new generation",
                          priority=4)
            return "Activating over SSH resulted in a bad exit code: Some(255)"
        if scenario == "activation-timeout" and magic:
            # The switch outlasts activationTimeout: `wait` gives up, deploy-rs exits, the target goes on (recorded:
            # activation-timeout); its lines come through the orphaned activate session after deploy's exit.
            self.pause(job.activation_timeout if job.activation_timeout is not None else 240)
            self.remote("wait", "ERROR", "Error waiting for activation: Timeout elapsed for confirmation")
            self.debug("Wait command ended", "deploy")
            self._orphan_target_rollback(job, generation)
            self.lab.revert(node, "activation outlasted the activation timeout; unconfirmed, rolled back")
            return "Waiting over SSH resulted in a bad exit code: Some(1)"
        if boot:
            self.out.raw("updating GRUB 2 menu...")
            self.pause(node.duration("activate"))
        else:
            self._switch_output(job, failing=False)
        self.remote("activate", "INFO", "Activation succeeded!")
        if job.profile == "system":  # other profiles (home-manager, ...) leave the system generations alone
            self.lab.apply(node, boot=boot)
        if not magic:
            self.info("Success activating for next boot, done!" if boot else "Success activating, done!", "deploy")
            return None
        self.remote("activate", "INFO", "Magic rollback is enabled, setting up confirmation hook...")
        self.remote("activate", "DEBUG", "Ensuring parent directory exists for canary file")
        self.remote("activate", "DEBUG", "Creating canary file")
        self.remote("activate", "DEBUG", "Creating notify watcher")
        self.remote("activate", "INFO", "Waiting for confirmation event...")
        if waits:
            self.remote("wait", "INFO", "Found canary file, done waiting!")
        self.debug("Wait command ended", "deploy")
        self.info("Success activating, attempting to confirm activation", "deploy")
        canary = job.path.split("/")[3].split("-", 1)[0]
        sudo = "" if job.user == job.ssh_user else f"sudo -u {job.user} "
        self.debug(f"Attempting to run command to confirm deployment: {sudo}rm /tmp/deploy-rs-canary-{canary}",
                   "deploy")
        if scenario == "magic-timeout":
            # The new configuration cut ssh: the confirmation cannot reach the target (§6, §7; recorded:
            # magic-rollback): ssh's error, no `Deployment confirmed.`, the target rolls back after its timeout.
            self.pause(min(job.confirm_timeout, 10))
            self.out.raw(f"ssh: connect to host {self.args.hostname or job.hostname} port 22: Connection timed out")
            self.pause(max(job.confirm_timeout - 10, 0))
            self._deactivate("activate", job, generation)
            self.lab.revert(node, "no confirmation within the confirm timeout (magic rollback)")
            self.remote("activate", "ERROR", "Failed to get activation confirmation: Error waiting for confirmation "
                        "event: Timeout elapsed for confirmation")
            self._panic(1)
            return "Activating over SSH resulted in a bad exit code: RecvError(())"
        self.pause(node.duration("confirm"))
        self.info("Deployment confirmed.", "deploy")
        return None

    def _panic(self, code: int) -> None:
        """The worker thread's panic as a current rustc prints it (recorded: an empty line, the thread's id)."""
        self.out.raw(f"\nthread 'tokio-runtime-worker' ({os.getpid()}) panicked at src/deploy.rs:490:41:\n"
                     f"called `Result::unwrap()` on an `Err` value: SSHActivateExit(Some({code}))\n"
                     "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace")

    def _record(self, tag: str, level: str, message: str) -> str:
        emoji, colour = LEVEL[level]
        word = f"\x1b[38;5;{colour}m{level}\x1b[0m" if self.config.ansi else level
        return f"{SOURCE[tag]} {emoji} [{tag}] [{word}] {message}\n"

    def _orphan(self, lines: list[tuple[float, str]]) -> None:
        """A child that outlives deploy (its ssh session to the target) and writes `lines`, each after its delay,
        holding deploy's stdout/stderr open until it is done."""
        code = ("import os, sys, time\n"
                "for i in range(1, len(sys.argv), 2):\n"
                "    time.sleep(float(sys.argv[i])); os.write(2, sys.argv[i + 1].encode())\n")
        args = [item for delay, line in lines for item in (str(delay), line)]
        subprocess.Popen([sys.executable, "-c", code, *args], stdin=subprocess.DEVNULL)

    def _orphan_target_rollback(self, job: Job, generation: int) -> None:
        """After an activation timeout: the target's switch ends, it waits for a confirmation that never comes and
        rolls back (recorded: activation-timeout)."""
        switch = self.config.scaled(job.node.duration("activate"))
        confirm = self.config.scaled(job.confirm_timeout)
        self._orphan([
            (switch, "activating the configuration...\n"),
            (0, self._record("activate", "INFO", "Activation succeeded!")),
            (0, self._record("activate", "INFO", "Magic rollback is enabled, setting up confirmation hook...")),
            (0, self._record("activate", "INFO", "Waiting for confirmation event...")),
            (confirm, self._record("activate", "WARN", "De-activating due to error")),
            (0, f"switching profile from version {generation} to {generation - 1}\n"),
            (0, self._record("activate", "WARN", f"Removing generation by ID {generation}")),
            (0, f"removing profile version {generation}\n"),
            (0, self._record("activate", "INFO", "Attempting to re-activate the last generation")),
            (0, "activating the configuration...\n"),
            (0, self._record("activate", "ERROR", "Failed to get activation confirmation: Error waiting for "
                             "confirmation event: Timeout elapsed for confirmation")),
        ])

    def _orphan_wait(self, job: Job) -> None:
        """The `wait` ssh child is never killed (docs/deploy-rs-output.md §6): it prints its timeout after deploy exited
        and holds stdout/stderr open until then."""
        if not (self.config.orphan_late_line or job.node.orphan_late_line):
            return
        delay = self.config.orphan_seconds
        if delay is None:
            delay = self.config.scaled(job.activation_timeout if job.activation_timeout is not None else 240)
        self._orphan([(delay, self._record("wait", "ERROR",
                                           "Error waiting for activation: Timeout elapsed for confirmation"))])

    def revoke(self, job: Job) -> None:
        _activate, _wait, revoke_cmd = self._commands(job)
        self.debug(f"Constructed revoke command: {revoke_cmd}", "deploy")
        self._deactivate("revoke", job, job.generation)
        self.lab.revert(job.node, "revoked by deploy-rs after a later profile failed")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Like a Rust program: SIGINT/SIGTERM kill the process, a closed pipe ends it quietly.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        args = parse_args(argv)
    except Usage as usage:
        (sys.stdout if usage.stream == "stdout" else sys.stderr).write(usage.text)
        return usage.code
    try:
        config = load_config()
    except EmulatorConfigError as exc:
        sys.stderr.write(f"deploy (labtui emulator): {exc}\n")
        return 1
    return Emulator(args, config).run()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
