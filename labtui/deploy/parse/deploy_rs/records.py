"""The vocabulary of deploy-rs's output: its log records, messages and errors, as patterns and texts.

What each means and where deploy-rs prints it: docs/deploy-rs-output.md (§3-§10;
deploy-rs d5eff7f). The parser (labtui.deploy.parse.deploy_rs.parser) decides what they do.
"""

from __future__ import annotations

import re

# One log record (§3.1), lenient: U+FE0F optional, any whitespace run, emojis optional (pasted logs
# and the 2026 logger drop some), and the `--log-dir` file format `INFO [deploy::cli] message`.
LOG_RE = re.compile(
    r"^(?:(?:\U0001F680|\u2B50|\U0001F440|\u21A9\uFE0F?)\s*)?"
    r"(?:(?:\u274C|\u26A0\uFE0F?|\u2139\uFE0F?|\u2753|\U0001F58A\uFE0F?)\s*)?"
    r"\[(deploy|activate|wait|revoke)\]\s*\[(ERROR|WARN|INFO|DEBUG|TRACE)\]\s?(.*)$"
)
GLUED_RE = re.compile(r"(?:\U0001F680|\u2B50|\U0001F440|\u21A9\uFE0F?)\s*\S{1,2}\s*"
                      r"\[(?:deploy|activate|wait|revoke)\] ?\[")
LOG_FILE_RE = re.compile(r"^(ERROR|WARN|INFO|DEBUG|TRACE) \[(deploy|activate)[\w:]*\] (.*)$")
PROMPT_PREFIX = "> "
SUDO_PROMPT_RE = re.compile(r"^\(sudo for [^)]*\) Password: ")

# Rust panic noise accompanying `RecvError(())` (§7): three lines, dropped. A current rustc names the thread's id in
# parentheses (`thread 'tokio-runtime-worker' (7078) panicked at src/deploy.rs:490:41:`, after an empty line); older
# ones do not.
PANIC_START_RE = re.compile(r"^thread '[^']*'(?: \(\d+\))? panicked at ")
PANIC_BODY_RE = re.compile(r"^(called `(?:Result|Option)::unwrap\(\)` on an|note: run with `RUST_BACKTRACE=|"
                           r"note: Some details are omitted|stack backtrace:|\s+\d+: \S|\s+at \S)")
PANIC_EXIT_RE = re.compile(r"SSHActivateExit\(Some\((\d+)\)\)")

NAME = r"`(.+?)`"
RE_CHECK = re.compile(r"^Running checks for flake in (.+)$")
RE_EVAL = re.compile(r"^Evaluating flake in (.+)$")
RE_BUILD = re.compile(rf"^Building profile {NAME} for node {NAME}( on remote host)?$")
RE_BUILD_2026 = re.compile(r"^starting build of profile (\S+) on node (\S+)$")
RE_PUSH = re.compile(rf"^Copying profile {NAME} to node {NAME}$")
RE_ACTIVATE = re.compile(rf"^Activating profile {NAME} for node {NAME}$")
RE_TIMEOUT_FLAG = {
    "confirm": re.compile(r"--confirm-timeout\s+'?(\d+)"),
    "activation": re.compile(r"--activation-timeout\s+'?(\d+)"),
}
RE_PROFILE_NAME = re.compile(r"--profile-name\s+'?([^'\s]+)")
RE_STORE_PATH = re.compile(r"(/nix/store/[0-9a-z]{32}-[^\s'/]+)")
RE_GEN_REMOVED = re.compile(r"^Removing generation by ID (\d+)$")
# 2026 spinner lines (§10): `✅ Pushing profile 'system' to host 'web1' Done!` etc.
RE_SPINNER = re.compile(r"^(?:\S+\s+)?(Building|Pushing) profile '([^']+)' (?:on|for|to) host '([^']+)'")

# DeployProfileError: the bare first activation-stage error (cli.rs:617, §6).
ACTIVATION_ERRORS = (
    "Failed to spawn activation command over SSH", "Failed to run activation command over SSH",
    "Activating over SSH resulted in a bad exit code", "Failed to run wait command over SSH",
    "Waiting over SSH resulted in a bad exit code", "Failed to pipe to child stdin",
    "Error confirming deployment", "Deployment data invalid",
)
RE_DEPLOY_FAILED = re.compile(r"^Failed to deploy profile (?:(\S+) )?to node (\S+): (.*)$")
RE_DEPLOY_FAILED_LEGACY = re.compile(r"^Failed to deploy profile: (.*)$")
RE_ROLLED_BACK = re.compile(r"^Deployment to node (\S+) failed, rolled back to previous generation$")
ROLLED_BACK_LEGACY = "Deployment failed, rolled back to previous generation"
RE_REVOKE_FAILED = re.compile(r"^Failed to revoke profile (?:(\S+) )?for node (\S+): (.*)$")
RE_REVOKE_FAILED_LEGACY = re.compile(r"^Failed to revoke profile: (.*)$")
RE_BUILD_FAILED = re.compile(r"^Failed to build profile (?:(\S+) )?on node (\S+): (.*)$")
RE_PUSH_FAILED = re.compile(r"^Failed to push profile (?:(\S+) )?to node (\S+): (.*)$")
RE_PUSH_FAILED_LEGACY = re.compile(r"^Failed to push profile: (.*)$")
# Errors that end the run before anything was activated, with the stage they belong to.
EARLY_ERRORS = (
    ("Failed to check deployment:", "check"),
    ("Failed to evaluate deployment data:", "eval"),
    ("Error parsing flake:", "eval"),
    ("No profile named", "eval"),
    ("No node named", "eval"),
    ("Profile was provided without a node name", "eval"),
    ("Error processing deployment definitions:", "eval"),
    ("Failed to make printable TOML of deployment:", "eval"),
    ("Failed to test for flake support:", None),
    ("Error initiating logger:", None),
    ("Error parsing arguments:", None),
)
CANCEL_ERRORS = ("User cancelled deployment",)
PROMPT_ERRORS = ("Failed to flush stdout prior to query:", "Failed to read line from stdin:")
CONFIRM_TIMEOUT_TEXT = "Timeout elapsed for confirmation"
# The local error after the target's `wait` gave up (activationTimeout): the target may still be activating (§6).
WAIT_FAILED = "Waiting over SSH resulted in a bad exit code"
# activate-rs prints one ERROR when it ends badly (activate.rs `error!("{}", err)`: the failed activation, the failed
# confirmation after its rollback, a failed rollback); this one is the only other ERROR it prints, and it goes on.
ACTIVATE_NOT_FINAL_ERROR = "Could not send file system event"
QUESTION = "Are you sure you want to deploy these profiles?"
QUESTION_AGAIN = "Sounds like you might want to continue"  # after an answer like `Y`: asked again
# switch-to-configuration dry-activate output: the dry activation of the next profile has begun.
DRY_ACTIVATE_OUTPUT_RE = re.compile(
    r"^would (?:NOT |not )?(?:stop|start|restart|reload|activate|remove|create|set up|unlink)\b")


def maybe_structural(text: str) -> bool:
    """Whether a line may be more than raw output: a log record (maybe behind `> `), a lone `>`,
    or a Rust panic. Cheap substring tests first: most lines of a log are nix build output."""
    if "[" in text and ("[deploy" in text or "[activate" in text or "[wait]" in text or "[revoke]" in text):
        return True  # a record, maybe glued behind a prompt or another program's unfinished line
    return text.startswith((">", "thread '", "(sudo for "))
