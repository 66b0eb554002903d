"""nixos-rebuild output → the same deploy events as deploy-rs (one node, profile `system`).

`nixos-rebuild <action> --flake F#host --target-host user@host` builds locally, copies the closure
with nix, sets the system profile (switch, boot) and runs `switch-to-configuration <action>` over
ssh. It prints no stage markers of its own beyond `building the system configuration...`, so stages
are recognised from nix's and switch-to-configuration's well-known lines. There is no rollback:
a failed activation leaves the host on the new generation (outcome `failed`).
"""

from __future__ import annotations

import re

from labtui.deploy.parse import generation_switch
from labtui.deploy.parse.ansi import clean_line
from labtui.runs.events import NodeResult, Output, RunEvent, RunResult, StageChanged

PROFILE = "system"

BUILD_RE = re.compile(r"^(building the system configuration\.\.\.|Building the system configuration\.\.\.)")
EVAL_ERROR_HINT_RE = re.compile(r"(while evaluating|undefined variable|infinite recursion|attribute '.*' missing|"
                                r"The option `.*' does not exist|Failed assertions:|syntax error)")
PUSH_RE = re.compile(r"^(copying \d+ paths\.\.\.|copying path '.*' to '(ssh|ssh-ng)://|"
                     r"[Cc]opying (the )?(system )?closure to (the )?(target|remote) host)")
# switch-to-configuration (Perl and Rust versions) and bootloader installers.
ACTIVATE_RE = re.compile(
    r"^(activating the configuration\.\.\.|setting up /etc\.\.\.|stopping the following units:|"
    r"(re)?starting the following units:|reloading the following units:|the following new units were started:|"
    r"updating GRUB 2 menu\.\.\.|installing the GRUB 2 boot loader|Installing systemd-boot|Copied \"|"
    r"reloading user units for|restarting sysinit-reactivation\.target|setting up tmpfiles|"
    r"[Aa]ctivating the (new )?configuration|Switching to|would (NOT )?(stop|start|restart|reload|activate))"
)
ACTIVATE_FAILED_RE = re.compile(r"^warning: (error\(s\) occurred while switching to the new configuration|"
                                r"the following units failed: .*)")
DONE_RE = re.compile(r"^Done\. The new configuration is (/nix/store/\S+)")


class NixosRebuildParser:
    """Streaming parser of one `nixos-rebuild <action> --target-host` run for `node`."""

    def __init__(self, node: str, action: str) -> None:
        self.node = node
        self.action = action
        self.new_path: str | None = None  # the built toplevel, when nixos-rebuild printed it
        self._stage: str | None = None
        self._first_error: str | None = None
        self._activation_problem: str | None = None
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

    def _to(self, stage: str, ts: float) -> list[RunEvent]:
        if self._stage == stage:
            return []
        self._stage = stage
        self._first_error = None
        return [StageChanged(ts=ts, node=self.node, profile=PROFILE, stage=stage)]

    def feed(self, line: str, ts: float) -> list[RunEvent]:
        text = clean_line(line)
        if not text.strip():
            return []
        if self._finished:
            return [Output(ts=ts, node=self.node, stage=self._stage, line=text, source="raw")]
        events: list[RunEvent] = []
        if BUILD_RE.match(text):
            events += self._to("build", ts)
        elif PUSH_RE.match(text) and self._stage in (None, "eval", "build"):
            events += self._to("push", ts)
        elif ACTIVATE_RE.match(text) and self._stage != "activate":
            events += self._to("activate", ts)
        elif m := DONE_RE.match(text):
            self.new_path = m.group(1)
        if ACTIVATE_FAILED_RE.match(text):
            if self._activation_problem is None or "units failed" in text:
                self._activation_problem = text.removeprefix("warning: ")
        stripped = text.strip()
        if self._first_error is None and stripped.startswith("error") and stripped != "error:":
            self._first_error = stripped
        if self._stage in (None, "build") and EVAL_ERROR_HINT_RE.search(text):
            # an evaluation error, not a build failure: nix evaluates before it builds
            self._stage = "eval"
            events.append(StageChanged(ts=ts, node=self.node, profile=PROFILE, stage="eval"))
        events.append(Output(ts=ts, node=self.node, stage=self._stage, line=text, source="raw"))
        switch = generation_switch(text, ts, self.node)
        if switch is not None:
            events.append(switch)
        return events

    def finish(self, exit_code: int | None, ts: float, *, cancelled: bool = False) -> list[RunEvent]:
        if self._finished:
            return []
        self._finished = True
        stage = self._stage
        ok = exit_code == 0 and not cancelled
        if ok and self._activation_problem is None:
            if self.action == "dry-activate":
                outcome, message = "dry_activated", "dry activation completed"
            else:
                outcome = "succeeded"
                message = {"boot": "activated for next boot", "test": "activated until the next reboot"}.get(
                    self.action, "activated")
            stage = "activate"
        elif stage == "activate" or self._activation_problem is not None:
            why = self._activation_problem or self._first_error or _exit_text(exit_code, cancelled)
            outcome = "failed"
            message = (f"switch-to-configuration {self.action} failed: {why}; nixos-rebuild does not roll back, "
                       "the host is left on the new generation")
            if exit_code == 0:  # units failed but nixos-rebuild still exited 0
                message = f"activation reported problems: {why}; the host is on the new generation"
        else:
            outcome = "not_deployed"
            why = self._first_error or _exit_text(exit_code, cancelled)
            message = (f"{stage or 'nixos-rebuild'} failed: {why}" if not cancelled
                       else f"cancelled during {stage or 'start'}")
        self._result = NodeResult(ts=ts, node=self.node, profile=PROFILE, outcome=outcome,  # type: ignore[arg-type]
                                  stage=stage, message=message)
        if cancelled:
            run = "cancelled"
        elif ok and outcome in ("succeeded", "dry_activated"):
            run = "succeeded"
        else:
            run = "failed"
        run_message = "" if run == "succeeded" else f"{self.node}: {outcome.replace('_', ' ')}: {message}"
        return [self._result, RunResult(ts=ts, outcome=run, exit_code=exit_code, message=run_message)]  # type: ignore[arg-type]


def _exit_text(exit_code: int | None, cancelled: bool) -> str:
    if cancelled:
        return "cancelled"
    if exit_code is None:
        return "nixos-rebuild was killed"
    return f"nixos-rebuild exited with code {exit_code}"
