"""`colmena apply --on NODE [goal]` output → the same deploy events as deploy-rs (one node, profile `system`).

Colmena 0.4's plain progress output (what it prints when stdout is not a terminal, or with `--verbose`),
described in docs/deploy.md ("The colmena method"), read from Colmena's source (job.rs, progress/plain.rs,
nix/deployment/mod.rs at 5fdd743):

    [INFO ] Enumerating nodes...                      env_logger records: `[LEVEL] message`
     web1 | Evaluating web1                           job lines: the label right-aligned (width >= 5), ` | `
     web1 | Building web1                             job state texts (job.rs describe_state_transition)
     web1 | building '/nix/store/…-nixos-system-web1.drv'...          child output of the job's commands
     web1 | Built "/nix/store/…-nixos-system-web1-24.05"               custom success messages
     web1 | Pushing system closure
     web1 | Activating system profile
     web1 | Activation successful
          | All done!                                 the meta job (empty label)

A failure prints `web1 | Activation failed: <error>` (or `Build failed: …`, …), the meta job's
`| Failed: <error>`, one `[ERROR] Failed to deploy to web1 - Last N lines of logs:` block per failed job, then
`[ERROR] Operation failed with error: <error>`, exit 1. Colmena has no rollback: a failed switch leaves the host
on the new generation (the profile was set before switch-to-configuration ran).
"""

from __future__ import annotations

import re

from labtui.deploy.parse.ansi import clean_line
from labtui.deploy.parse.nixos_rebuild import ACTIVATE_FAILED_RE
from labtui.runs.events import NodeResult, Outcome, Output, RunEvent, RunOutcome, RunResult, StageChanged

PROFILE = "system"

LOG_RE = re.compile(r"^\[(?P<level>INFO |WARN |ERROR|DEBUG|TRACE)\] (?P<text>.*)$")
# ` web1 | text`; a meta line has an empty label. The label never contains spaces or `|`.
JOB_RE = re.compile(r"^\s*(?P<label>[^\s|]*) \|(?: (?P<text>.*))?$")
# Job state texts (job.rs:713-753) → the stage they start.
STAGE_STARTS = (
    ("Evaluating ", "eval"),
    ("Building ", "build"),
    ("Pushing system closure", "push"),
    ("Uploading keys", "push"),
    ("Uploading pre-activation keys", "push"),
    ("Activating system profile", "activate"),
)
# The Activate job's success message per goal (nix/goal.rs success_str).
SUCCESS_TEXTS = {
    "Activation successful": "switch",
    "Will be activated next boot": "boot",
    "Activation successful (test)": "test",
    "Dry activation successful": "dry-activate",
}
FAILED_RE = re.compile(r"^(?P<what>Evaluation|Build|Push|Key upload|Activation|Reboot) failed: (?P<error>.*)$")
FAILED_STAGE = {"Evaluation": "eval", "Build": "build", "Push": "push", "Key upload": "push",
                "Activation": "activate", "Reboot": "activate"}
BUILT_RE = re.compile(r'^Built "(?P<path>/nix/store/[^"]+)"')
# Nothing changed on the host: the activation refused before touching the profile (error.rs).
REFUSED_BEFORE_SWITCH_RE = re.compile(r"^(Unknown|Unexpected) active profile")
SUMMARY_RE = re.compile(r"^Failed to (evaluate|build|push system closure to|upload keys to|deploy to|reboot|"
                        r"complete requested operation|complete job on)\b.* - Last \d+ lines of logs:$")
PANIC_RE = re.compile(r"^thread '.*' (\(\d+\) )?panicked at ")


class ColmenaParser:
    """Streaming parser of one `colmena apply --on NODE [goal]` run."""

    def __init__(self, node: str, action: str) -> None:
        self.node = node
        self.action = action
        self.new_path: str | None = None  # the built toplevel (`Built "…"`)
        self._stage: str | None = None
        self._succeeded = False  # the Activate job's success text for this node was printed
        self._failure: tuple[str, str] | None = None  # (stage, error) of this node's failed job
        self._errors: list[str] = []  # first error lines outside jobs (nix's `error: …`, `[ERROR] …`)
        self._job_error: str | None = None  # the first `error…` line of this node's commands in the current stage
        self._activation_problem: str | None = None  # switch-to-configuration's own warning
        self._no_hosts = False
        self._panic: str | None = None
        self._panic_next = False
        self._in_summary = False  # inside the `[ERROR] … - Last N lines of logs:` blocks: a replay
        self._all_done = False
        self._result: NodeResult | None = None
        self._finished = False

    @property
    def follow_after_exit(self) -> float | None:
        return None  # nothing colmena starts outlives it

    @property
    def awaiting_answer(self) -> bool:
        return False  # colmena asks nothing

    def mark_answered(self) -> None:
        pass

    @property
    def results(self) -> dict[tuple[str, str | None], NodeResult]:
        return {(self.node, PROFILE): self._result} if self._result else {}

    def _to(self, stage: str, ts: float) -> list[RunEvent]:
        if self._stage == stage:
            return []
        self._stage = stage
        self._job_error = None
        return [StageChanged(ts=ts, node=self.node, profile=PROFILE, stage=stage)]

    def feed(self, line: str, ts: float) -> list[RunEvent]:
        text = clean_line(line).rstrip()
        if not text.strip():
            return []
        events: list[RunEvent] = []
        if not self._finished:
            events += self._read(text, ts)
        events.append(Output(ts=ts, node=self.node, stage=self._stage, line=text, source="raw"))
        return events

    def _read(self, text: str, ts: float) -> list[RunEvent]:
        if self._panic_next:
            self._panic_next = False
            self._panic = f"{self._panic}: {text.strip()}" if self._panic else text.strip()
        if log := LOG_RE.match(text):
            return self._log(log.group("level").strip(), log.group("text"), ts)
        if self._in_summary:
            return []
        if job := JOB_RE.match(text):
            return self._job(job.group("label"), job.group("text") or "", ts)
        stripped = text.strip()
        if PANIC_RE.match(stripped):
            self._panic = stripped.split(" panicked at ", 1)[1].rstrip(":")  # the message follows on the next line
            self._panic_next = True
        elif stripped.startswith("error") and len(self._errors) < 3:
            self._errors.append(stripped)  # nix, before any job (the node list or its deployment info)
        return []

    def _log(self, level: str, text: str, ts: float) -> list[RunEvent]:
        if level == "ERROR" and SUMMARY_RE.match(text):
            self._in_summary = True
            return []
        if self._in_summary and level == "ERROR" and text[:9].strip().endswith(")"):
            return []  # a replayed event of the summary (`  stderr) …`, ` failure) …`)
        self._in_summary = False
        if text == "Enumerating nodes...":
            return self._to("eval", ts)
        if level == "WARN" and text.startswith("No hosts selected"):
            self._no_hosts = True
        elif level == "ERROR" and text != "-----":
            self._errors.append(text.removeprefix("Operation failed with error: "))
        return []

    def _job(self, label: str, text: str, ts: float) -> list[RunEvent]:
        if label == "":  # the meta job
            if text == "All done!":
                self._all_done = True
            return []
        if label not in (self.node, "(...)"):
            return []  # another node's job (a hive-wide evaluation chunk shows `(...)`)
        for start, stage in STAGE_STARTS:
            if text.startswith(start):
                return self._to(stage, ts)
        if built := BUILT_RE.match(text):
            self.new_path = built.group("path")
        elif text in SUCCESS_TEXTS and label == self.node:
            self._succeeded = True
        elif (failed := FAILED_RE.match(text)) and self._failure is None:
            self._failure = (FAILED_STAGE[failed.group("what")], failed.group("error"))
        elif ACTIVATE_FAILED_RE.match(text.strip()):
            if self._activation_problem is None or "units failed" in text:
                self._activation_problem = text.strip().removeprefix("warning: ")
        elif text.strip().startswith("error") and self._job_error is None and self._failure is None:
            self._job_error = text.strip()
        return []

    def finish(self, exit_code: int | None, ts: float, *, cancelled: bool = False) -> list[RunEvent]:
        if self._finished:
            return []
        self._finished = True
        outcome, stage, message = self._verdict(exit_code, cancelled)
        self._result = NodeResult(ts=ts, node=self.node, profile=PROFILE, outcome=outcome, stage=stage,
                                  message=message)
        run: RunOutcome
        if cancelled:
            run = "cancelled"
        elif exit_code == 0 and outcome in ("succeeded", "dry_activated"):
            run = "succeeded"
        else:
            run = "failed"
        run_message = "" if run == "succeeded" else f"{self.node}: {outcome.replace('_', ' ')}: {message}"
        return [self._result, RunResult(ts=ts, outcome=run, exit_code=exit_code, message=run_message)]

    def _verdict(self, exit_code: int | None, cancelled: bool) -> tuple[Outcome, str | None, str]:
        stage = self._stage
        if cancelled:
            if stage == "activate":
                return "failed", stage, "cancelled during activation; the host may be on the new configuration"
            return "cancelled", stage, f"cancelled during {stage or 'start'}"
        if self._no_hosts:
            return "not_deployed", stage, (f"colmena selected no host for `--on {self.node}`: it is not a node of "
                                           "the hive (colmena exited 0 and did nothing)")
        if self._failure is not None:
            failed_stage, error = self._failure
            changed = not REFUSED_BEFORE_SWITCH_RE.match(error) and self.action != "dry-activate"
            if failed_stage == "activate" and changed:
                why = self._activation_problem or self._job_error or error
                return "failed", "activate", (f"switch-to-configuration {self.action} failed: {why}; colmena does "
                                              "not roll back, the host is left on the new configuration")
            why = self._job_error or error
            # Its own build, copy or key upload failed: `failed` at that stage (nothing activated), as nixos-rebuild's;
            # an evaluation error or a refused activation: never activated.
            outcome: Outcome = "failed" if failed_stage in ("build", "push") else "not_deployed"
            return outcome, failed_stage, f"{_STAGE_WORDS[failed_stage]} failed: {why}"
        if exit_code == 0 and self._succeeded:
            if self.action == "dry-activate":
                return "dry_activated", "activate", "dry activation completed"
            return "succeeded", "activate", {"boot": "activated for next boot",
                                             "test": "activated until the next reboot"}.get(self.action, "activated")
        if self._panic is not None and not self._errors:
            return "not_deployed", stage, f"colmena crashed: {self._panic}"
        why = self._errors[0] if self._errors else _exit_text(exit_code)
        if exit_code == 0:  # e.g. `All done!` without this node's activation: never call that a success
            return "not_deployed", stage, f"colmena exited 0 without activating {self.node}"
        if stage == "activate":
            return "failed", stage, (f"activation ended without a result: {why}; the host may be on the new "
                                     "configuration")
        outcome = "failed" if stage in ("build", "push") else "not_deployed"
        return outcome, stage, f"{_STAGE_WORDS.get(stage or '', 'colmena')} failed: {why}"


_STAGE_WORDS = {"eval": "evaluation", "build": "build", "push": "push", "activate": "activation"}


def _exit_text(exit_code: int | None) -> str:
    if exit_code is None:
        return "colmena was killed"
    if exit_code == 101:
        return "colmena crashed (exit 101)"
    return f"colmena exited with code {exit_code}"
