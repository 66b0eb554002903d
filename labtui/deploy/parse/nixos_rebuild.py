"""nixos-rebuild output → the same deploy events as deploy-rs (one node, profile `system`).

`nixos-rebuild <action> --flake F#host --target-host user@host` does, in this order (the bash script of nixpkgs and
the Python nixos-rebuild-ng alike; docs/deploy-rs-output.md §14):
1. (unless `--fast`/`--no-reexec`) build and re-execute `config.system.build.nixos-rebuild`;
2. print `building the system configuration...` and build the toplevel (evaluation first: an error before any
   `building '…'` line is an evaluation error);
3. copy the closure with `nix-copy-closure --to` (it connects before it prints `copying N paths...`, so a host that is
   down fails here with only ssh's and nix's errors);
4. for switch and boot, set the system profile on the host (`nix-env -p … --set`, with sudo if asked);
5. run `switch-to-configuration <action>` on the host.
The script prints no marker for steps 3-5 of its own, so stages come from what each step leaves in the output: nix's
`copying` lines and connection errors (push), the bash script's `ssh -t` noise (`Pseudo-terminal will not be
allocated…` once per remote command when stdin is not a terminal, `Shared connection to … closed.` under a pty: shown
to nobody, counted to know which remote command runs), switch-to-configuration's own lines, the `$ …` command lines of
`-v`, nixos-rebuild-ng's `debug: … calling run with args=[…]` lines and its final `Command '[…]' returned non-zero exit
status N.` (the command that failed names the step).

There is no rollback: a failed switch leaves the profile on the new generation (switch, boot) and the running system
possibly half switched (`failed`); a failure before the profile moved changed nothing (`not_deployed`).
"""

from __future__ import annotations

import re

from labtui.deploy.parse import generation_switch
from labtui.deploy.parse.ansi import clean_line
from labtui.runs.events import NodeResult, Output, RunEvent, RunOutcome, RunResult, StageChanged

PROFILE = "system"

BUILD_RE = re.compile(r"^(building the system configuration\.\.\.|Building the system configuration\.\.\.|"
                      r"Building in flake mode\.)")
DRV_RE = re.compile(r"^(building '/nix/store/|these \d+ derivations? will be built|this derivation will be built|"
                    r"\[\d+/\d+/\d+ built)")
EVAL_ERROR_HINT_RE = re.compile(r"(while evaluating|undefined variable|infinite recursion|attribute '.*' missing|"
                                r"The option `.*' does not exist|Failed assertions:|syntax error|evaluation error)")
# Errors of the build itself, and nix rejecting its command line (an older nix than nixos-rebuild expects): not
# evaluation.
BUILD_ERROR_RE = re.compile(r"^error: (builder for |\d+ dependencies of derivation |build of |cannot build |"
                            r"unrecognised flag |unrecognized option |unexpected argument )")
PUSH_RE = re.compile(r"^(copying \d+ paths?\.\.\.|copying path '.*' to '(ssh|ssh-ng)://|"
                     r"[Cc]opying (the )?(system )?closure to (the )?(target|remote) host|"
                     r"Running nix-copy-closure with these NIX_SSHOPTS)")
# ssh and nix failing to reach the host (OpenSSH's words; nix's for the legacy ssh store).
CONNECT_ERROR_RE = re.compile(
    r"(^ssh: connect to host |^ssh: Could not resolve hostname |Connection timed out during banner exchange|"
    r"^Connection to \S+ port \d+ timed out|Connection refused|No route to host|Network is unreachable|"
    r"Permission denied \(|Host key verification failed|^error: cannot connect to '|"
    r"^error: failed to start SSH connection|cannot open connection to remote store|"
    r"^kex_exchange_identification:|Connection closed by \S+ port \d+)")
# switch-to-configuration (Perl and Rust versions) and bootloader installers.
ACTIVATE_RE = re.compile(
    r"^(activating the configuration\.\.\.|setting up /etc\.\.\.|stopping the following units:|"
    r"(re)?starting the following units:|reloading the following units:|the following new units were started:|"
    r"updating GRUB 2 menu\.\.\.|installing the GRUB 2 boot loader|Installing systemd-boot|Copied \"|"
    r"reloading user units for|restarting sysinit-reactivation\.target|setting up tmpfiles|"
    r"[Aa]ctivating the (new )?configuration|Switching to|would (NOT )?(stop|start|restart|reload|activate)|"
    r"Skipping systemd-run to switch configuration)"
)
ACTIVATE_FAILED_RE = re.compile(r"^warning: (error\(s\) occurred while switching to the new configuration|"
                                r"the following units failed: .*)")
DONE_RE = re.compile(r"^Done\. The new configuration is (/nix/store/\S+)")
# The bash script's `ssh -t` without a terminal, and ssh closing a multiplexed session under a pty: one per remote
# command (profile, systemd-run probe, switch), noise to the operator.
SSH_T_RE = re.compile(r"^(Pseudo-terminal will not be allocated because stdin is not a terminal\.|"
                      r"Shared connection to \S+ closed\.)$")
# `-v`: the bash script prints every command it runs; nixos-rebuild-ng logs it at debug level.
VERBOSE_COMMAND_RE = re.compile(r"^(\$ |debug: \S+: calling run with args=)(?P<command>.*)$")
# nixos-rebuild-ng's last line when a command failed (subprocess.CalledProcessError): it exits with that status.
NG_FAILED_RE = re.compile(r"^Command (?P<command>.*) returned non-zero exit status (?P<status>\d+)\.$")
NOT_FOUND_RE = re.compile(r"(?:^|: )(?P<command>[\w.+-]+): (?:command )?not found$")
NIX_TOO_OLD = "you're using Nix <2.18"  # nixos-rebuild-ng's warning; its `nix build --print-out-paths` then fails
SUDO_PASSWORD_RE = re.compile(r"^sudo: (a password is required|a terminal is required to read the password|"
                              r"\d+ incorrect password attempts?)")


STEPS = ["build", "push", "profile", "probe", "switch"]


def _step_of(command: str) -> str | None:
    """The step a command line belongs to: build, push, profile (nix-env --set) or switch."""
    if "switch-to-configuration" in command:
        return "switch"
    if "nix-env" in command and "--set" in command:
        return "profile"
    if "nix-copy-closure" in command or re.search(r"\bnix\b.*\bcopy\b", command):
        return "push"
    if re.search(r"\b(nix-build|nix-instantiate|nix)\b", command) and re.search(r"\b(build|eval)\b|nix-build|"
                                                                                 r"nix-instantiate", command):
        return "build"
    if "systemd-run" in command:
        return "probe"
    return None


class NixosRebuildParser:
    """Streaming parser of one `nixos-rebuild <action> --target-host` run for `node` (bash or nixos-rebuild-ng)."""

    def __init__(self, node: str, action: str) -> None:
        self.node = node
        self.action = action
        self.new_path: str | None = None  # the built toplevel, when nixos-rebuild printed it
        self._stage: str | None = None
        self._step: str | None = None  # build, push, profile, probe, switch: where the script is
        self._drv_seen = False  # a derivation line since `building the system configuration...`
        self._remote_commands = 0  # `ssh -t` commands begun (bash, from their noise)
        self._first_error: str | None = None
        self._activation_problem: str | None = None
        self._failed_step: str | None = None  # from nixos-rebuild-ng's `Command … returned non-zero exit status`
        self._missing_command: str | None = None
        self._sudo_password = False
        self._nix_too_old = False
        self._result: NodeResult | None = None
        self._finished = False

    @property
    def awaiting_answer(self) -> bool:
        return False  # nixos-rebuild asks nothing on stdin (sudo asks on the terminal)

    def mark_answered(self) -> None:
        pass  # it asks nothing

    @property
    def follow_after_exit(self) -> float | None:
        return None  # nothing it starts outlives it

    @property
    def results(self) -> dict[tuple[str, str | None], NodeResult]:
        return {(self.node, PROFILE): self._result} if self._result else {}

    # ---- where the script is ---------------------------------------------------------------------------------

    def _to(self, stage: str, ts: float) -> list[RunEvent]:
        if self._stage == stage:
            return []
        self._stage = stage
        self._first_error = None
        return [StageChanged(ts=ts, node=self.node, profile=PROFILE, stage=stage)]

    def _enter(self, step: str, ts: float) -> list[RunEvent]:
        """The script began `step` (never going back to an earlier one); the stage follows from it."""
        if step == self._step or (self._step in STEPS and STEPS.index(step) < STEPS.index(self._step)):
            return []
        self._step = step
        if step == "build":
            self._drv_seen = False
        stage = {"build": "build", "push": "push"}.get(step, "activate")
        return self._to(stage, ts)

    def _remote_command(self, ts: float, *, ended: bool) -> list[RunEvent]:
        """The bash script's remote commands after the copy, in order: the profile (switch, boot), the systemd-run
        probe, the switch. Each prints `Pseudo-terminal will not be allocated…` as it starts (stdin not a terminal)
        or `Shared connection … closed.` as it ends (under a pty): the n-th of them says which runs now."""
        self._remote_commands += 1
        steps = ["profile", "probe", "switch"] if self.action in ("switch", "boot") else ["probe", "switch"]
        index = self._remote_commands if ended else self._remote_commands - 1
        return self._enter(steps[min(index, len(steps) - 1)], ts)

    # ---- lines -------------------------------------------------------------------------------------------------

    def feed(self, line: str, ts: float) -> list[RunEvent]:
        text = clean_line(line)
        if not text.strip():
            return []
        if self._finished:
            return [Output(ts=ts, node=self.node, stage=self._stage, line=text, source="raw")]
        events: list[RunEvent] = []
        stripped = text.strip()
        if SSH_T_RE.match(stripped):
            return self._remote_command(ts, ended=stripped.startswith("Shared connection"))
        source = "raw"
        if m := VERBOSE_COMMAND_RE.match(text):
            step = _step_of(m.group("command"))
            if step is not None and not (step == "build" and "nixos-rebuild" in m.group("command")):
                events += self._enter(step, ts)
            source = "local"
        elif m := NG_FAILED_RE.match(stripped):
            self._failed_step = _step_of(m.group("command"))
            if self._failed_step is not None:
                events += self._enter(self._failed_step, ts)
            source = "local"
        elif BUILD_RE.match(text):
            events += self._enter("build", ts)
            source = "local"
        elif PUSH_RE.match(text) and self._step in (None, "build"):
            events += self._enter("push", ts)
        elif ACTIVATE_RE.match(text) and self._stage != "activate":
            events += self._enter("switch", ts)
        elif m := DONE_RE.match(text):
            self.new_path = m.group(1)
        if self._step == "build" and DRV_RE.match(stripped):
            self._drv_seen = True
        if ACTIVATE_FAILED_RE.match(text):
            if self._stage != "activate":
                events += self._enter("switch", ts)
            if self._activation_problem is None or "units failed" in text:
                self._activation_problem = text.removeprefix("warning: ")
        if self._step in (None, "build") and CONNECT_ERROR_RE.search(stripped):
            # nix-copy-closure connects before it prints anything (labtui builds locally: the build never needs
            # the host)
            events += self._enter("push", ts)
        if m := NOT_FOUND_RE.search(stripped):
            self._missing_command = m.group("command")
        if SUDO_PASSWORD_RE.match(stripped):
            self._sudo_password = True
        if NIX_TOO_OLD in stripped:
            self._nix_too_old = True
        if self._first_error is None and stripped.startswith("error") and stripped != "error:" \
                and not stripped.startswith("error: while running command with remote sudo"):
            self._first_error = stripped
        if self._step in (None, "build") and self._stage != "eval" and self._is_eval_error(stripped):
            # an evaluation error, not a build failure: nix evaluates before it builds
            self._stage = "eval"
            events.append(StageChanged(ts=ts, node=self.node, profile=PROFILE, stage="eval"))
        events.append(Output(ts=ts, node=self.node, stage=self._stage, line=text, source=source))
        switch = generation_switch(text, ts, self.node)
        if switch is not None:
            events.append(switch)
        return events

    def _is_eval_error(self, stripped: str) -> bool:
        if not stripped.startswith("error") or stripped == "error:":
            return EVAL_ERROR_HINT_RE.search(stripped) is not None and self._step in (None, "build")
        if BUILD_ERROR_RE.match(stripped) or CONNECT_ERROR_RE.search(stripped):
            return False
        # Nix 2.8 prints a `throw` as one line `error: <message>`: any error before the first derivation line of
        # the toplevel's build is evaluation.
        return self._step == "build" and not self._drv_seen

    # ---- the end -----------------------------------------------------------------------------------------------

    def finish(self, exit_code: int | None, ts: float, *, cancelled: bool = False) -> list[RunEvent]:
        if self._finished:
            return []
        self._finished = True
        stage = self._stage
        ok = exit_code == 0 and not cancelled
        outcome: str
        if ok and self._activation_problem is None:
            if self.action == "dry-activate":
                outcome, message = "dry_activated", "dry activation completed"
            else:
                outcome = "succeeded"
                message = {"boot": "activated for next boot", "test": "activated until the next reboot"}.get(
                    self.action, "activated")
            stage = "activate"
        elif cancelled:
            outcome, message = ("not_deployed" if self._step in (None, "build", "push") else "failed",
                                f"cancelled during {stage or 'start'}")
        elif self._failed_step == "switch" or self._step == "switch" or self._activation_problem is not None:
            outcome, message = self._switch_failure(exit_code)
            stage = "activate"
        elif self._step in ("profile", "probe") or self._failed_step == "profile":
            why = self._why(exit_code)
            if self._step == "probe" and self.action in ("switch", "boot"):
                # the profile was set before the probe ran
                outcome = "failed"
                message = (f"{why}, after the system profile was set to the new generation (it boots next); the "
                           "running system was not switched")
            else:
                outcome = "not_deployed"
                what = "setting the system profile" if self._step == "profile" else "reaching the host's systemd"
                message = f"{what} failed: {why}; nothing was changed"
        else:
            # Its own build or copy failed: `failed` at that stage (nothing was activated); an evaluation error:
            # `not_deployed`, as deploy-rs's.
            outcome = "failed" if stage in ("build", "push") else "not_deployed"
            why = self._why(exit_code)
            what = {"push": f"copying the system to {self.node}", "eval": "evaluation", "build": "build"}.get(
                stage or "", "nixos-rebuild")
            message = f"{what} failed: {why}"
        self._result = NodeResult(ts=ts, node=self.node, profile=PROFILE, outcome=outcome,  # type: ignore[arg-type]
                                  stage=stage, message=message)
        run: RunOutcome
        if cancelled:
            run = "cancelled"
        elif ok and outcome in ("succeeded", "dry_activated"):
            run = "succeeded"
        else:
            run = "failed"
        run_message = "" if run == "succeeded" else f"{self.node}: {outcome.replace('_', ' ')}: {message}"
        return [self._result, RunResult(ts=ts, outcome=run, exit_code=exit_code, message=run_message)]

    def _why(self, exit_code: int | None) -> str:
        if self._missing_command is not None:
            cmd = self._missing_command
            hint = (" (nixos-rebuild runs the remote commands with sudo: --use-remote-sudo/--sudo); log in as root "
                    "(sshUser = \"root\") or install sudo there") if cmd == "sudo" else ""
            return f"`{cmd}` is not installed on {self.node}{hint}"
        if self._sudo_password:
            return (f"sudo on {self.node} needs a password: give the profile interactiveSudo = true (labtui asks "
                    "for it) or allow the deploy user sudo without a password")
        why = self._first_error or _exit_text(exit_code, False)
        if self._nix_too_old:
            why += " (nixos-rebuild-ng needs Nix 2.18 or newer on this machine; install a newer Nix or use the bash " \
                   "nixos-rebuild)"
        return why

    def _switch_failure(self, exit_code: int | None) -> tuple[str, str]:
        why = self._activation_problem or self._first_error or _exit_text(exit_code, False)
        if exit_code == 0:  # units failed but nixos-rebuild still exited 0
            return "failed", f"activation reported problems: {why}; the host runs the new generation"
        action = self.action
        if action == "dry-activate":
            return "not_deployed", f"dry activation failed: {why}; nothing was changed"
        head = f"switch-to-configuration {action} failed: {why}; nixos-rebuild does not roll back"
        if action == "switch":
            return "failed", (f"{head}: the new generation is the system profile's default (it boots next) and the "
                              "running system may be partly switched")
        if action == "boot":
            return "failed", f"{head}: the new generation is the profile's default, the boot loader may not list it"
        return "failed", f"{head}: the running system may be partly switched; the next boot runs the old one"


def _exit_text(exit_code: int | None, cancelled: bool) -> str:
    if cancelled:
        return "cancelled"
    if exit_code is None:
        return "nixos-rebuild was killed"
    return f"nixos-rebuild exited with code {exit_code}"
