"""The command line of the deploy-rs emulator (labtui.sim.deploy_rs): clap 4.0's parsing and its error texts.

deploy-rs 1.0 (d5eff7f) answers a bad command line with clap's usage errors on stderr and exit 2; boolean options
take a literal `true`/`false`; `--help` and `--version` print to stdout and exit 0. The texts below are those of the
observed build (clap 4.0: `error: 'x' isn't a valid value for …`, `For more information try '--help'`, recorded in
tests/deploy/logs/real); upstream's clap 4.5 words them `invalid value 'x' for …` and `try '--help'.`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

USAGE = "Usage: deploy [OPTIONS] [TARGET] [-- <EXTRA_BUILD_ARGS>...]"
MORE = "For more information try '--help'"  # clap 4.0, as the observed build prints it

FLAGS = {"--interactive": "interactive", "-i": "interactive", "--checksigs": "checksigs", "-c": "checksigs",
         "--debug-logs": "debug_logs", "-d": "debug_logs", "--keep-result": "keep_result", "-k": "keep_result",
         "--skip-checks": "skip_checks", "-s": "skip_checks", "--remote-build": "remote_build",
         "--dry-activate": "dry_activate", "--boot": "boot"}
VALUES = {"--file": "file", "-f": "file", "--log-dir": "log_dir", "--result-path": "result_path",
          "-r": "result_path", "--ssh-user": "ssh_user", "--profile-user": "profile_user",
          "--ssh-opts": "ssh_opts", "--hostname": "hostname", "--temp-path": "temp_path", "--sudo": "sudo"}
U16 = {"--confirm-timeout": "confirm_timeout", "--activation-timeout": "activation_timeout"}
BOOLS = {"--fast-connection": "fast_connection", "--auto-rollback": "auto_rollback",
         "--magic-rollback": "magic_rollback", "--rollback-succeeded": "rollback_succeeded",
         "--interactive-sudo": "interactive_sudo"}

# `deploy --help` of the observed build (clap 4.0's long layout), as recorded (tests/deploy/logs/real).
HELP = """Simple Rust rewrite of a simple Nix Flake deployment tool

Usage: deploy [OPTIONS] [TARGET] [-- <EXTRA_BUILD_ARGS>...]

Arguments:
  [TARGET]               The flake to deploy
  [EXTRA_BUILD_ARGS]...  Extra arguments to be passed to nix build

Options:
      --targets <TARGETS>...
          A list of flakes to deploy alternatively
  -f, --file <FILE>
          Treat targets as files instead of flakes
  -c, --checksigs
          Check signatures when using `nix copy`
  -i, --interactive
          Use the interactive prompt before deployment
  -d, --debug-logs
          Print debug logs to output
      --log-dir <LOG_DIR>
          Directory to print logs to (including the background activation process)
  -k, --keep-result
          Keep the build outputs of each built profile
  -r, --result-path <RESULT_PATH>
          Location to keep outputs from built profiles in
  -s, --skip-checks
          Skip the automatic pre-build checks
      --remote-build
          Build on remote host
      --ssh-user <SSH_USER>
          Override the SSH user with the given value
      --profile-user <PROFILE_USER>
          Override the profile user with the given value
      --ssh-opts <SSH_OPTS>
          Override the SSH options used
      --fast-connection <FAST_CONNECTION>
          Override if the connecting to the target node should be considered fast [possible values:
          true, false]
      --auto-rollback <AUTO_ROLLBACK>
          Override if a rollback should be attempted if activation fails [possible values: true,
          false]
      --hostname <HOSTNAME>
          Override hostname used for the node
      --magic-rollback <MAGIC_ROLLBACK>
          Make activation wait for confirmation, or roll back after a period of time [possible
          values: true, false]
      --confirm-timeout <CONFIRM_TIMEOUT>
          How long activation should wait for confirmation (if using magic-rollback)
      --activation-timeout <ACTIVATION_TIMEOUT>
          How long we should wait for profile activation
      --temp-path <TEMP_PATH>
          Where to store temporary files (only used by magic-rollback)
      --dry-activate
          Show what will be activated on the machines
      --boot
          Don't activate, but update the boot loader to boot into the new profile
      --rollback-succeeded <ROLLBACK_SUCCEEDED>
          Revoke all previously succeeded deploys when deploying multiple profiles [possible values:
          true, false]
      --sudo <SUDO>
          Which sudo command to use. Must accept at least two arguments: user name to execute
          commands as and the rest is the command to execute
      --interactive-sudo <INTERACTIVE_SUDO>
          Prompt for sudo password during activation [possible values: true, false]
  -h, --help
          Print help information
  -V, --version
          Print version information
"""


class Usage(Exception):
    """A clap error or --help/--version: text for a stream and an exit code."""

    def __init__(self, text: str, code: int = 2, stream: str = "stderr") -> None:
        super().__init__(text)
        self.text, self.code, self.stream = text, code, stream


class DeployFailed(Exception):
    """The run ends with this RunError as the last ERROR line, exit 1."""


@dataclass
class Args:
    target: str | None = None
    targets: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    interactive: bool = False
    checksigs: bool = False
    debug_logs: bool = False
    keep_result: bool = False
    skip_checks: bool = False
    remote_build: bool = False
    dry_activate: bool = False
    boot: bool = False
    file: str | None = None
    log_dir: str | None = None
    result_path: str | None = None
    ssh_user: str | None = None
    profile_user: str | None = None
    ssh_opts: str | None = None
    hostname: str | None = None
    temp_path: str | None = None
    sudo: str | None = None
    confirm_timeout: int | None = None
    activation_timeout: int | None = None
    fast_connection: bool | None = None
    auto_rollback: bool | None = None
    magic_rollback: bool | None = None
    rollback_succeeded: bool | None = None
    interactive_sudo: bool | None = None


def _value_name(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_").upper()


def _unexpected(token: str) -> Usage:
    tip = (f"\n  If you tried to supply '{token}' as a value rather than a flag, use '-- {token}'\n"
           if token.startswith("-") else "")
    return Usage(f"error: Found argument '{token}' which wasn't expected, or isn't valid in this context\n{tip}\n"
                 f"{USAGE}\n\n{MORE}\n")


def parse_args(argv: list[str]) -> Args:
    """clap 4 semantics for deploy's options (usage errors: docs/deploy-rs-output.md §10)."""
    args = Args()
    i = 0
    positional: list[str] = []
    while i < len(argv):
        token = argv[i]
        i += 1
        if token == "--":
            args.extra = argv[i:]
            break
        if token in ("-h", "--help"):
            raise Usage(HELP, 0, "stdout")
        if token in ("-V", "--version"):
            raise Usage("deploy-rs 1.0\n", 0, "stdout")
        flag, eq, inline = token.partition("=") if token.startswith("--") else (token, "", "")
        if flag == "--targets":
            values = [inline] if eq else []
            while i < len(argv) and not argv[i].startswith("-"):
                values.append(argv[i])
                i += 1
            if not values:
                raise Usage("error: The argument '--targets <TARGETS>...' requires a value but none was supplied"
                            f"\n\n{MORE}\n")
            args.targets += values
            continue
        if flag in FLAGS and not eq:
            setattr(args, FLAGS[flag], True)
            continue
        if flag in VALUES or flag in U16 or flag in BOOLS:
            if eq:
                value = inline
            elif i < len(argv) and (flag == "--ssh-opts" or not argv[i].startswith("-")):
                value = argv[i]
                i += 1
            else:
                possible = "\n  [possible values: true, false]" if flag in BOOLS else ""
                raise Usage(f"error: The argument '{flag} <{_value_name(flag)}>' requires a value but none was "
                            f"supplied{possible}\n\n{MORE}\n")
            if flag in BOOLS:
                if value not in ("true", "false"):
                    raise Usage(f"error: '{value}' isn't a valid value for '{flag} <{_value_name(flag)}>'\n"
                                f"  [possible values: true, false]\n\n{MORE}\n")
                setattr(args, BOOLS[flag], value == "true")
            elif flag in U16:
                if not value.isdigit():
                    why = "cannot parse integer from empty string" if not value else "invalid digit found in string"
                    raise Usage(f"error: Invalid value '{value}' for '{flag} <{_value_name(flag)}>': {why}\n\n{MORE}\n")
                if int(value) > 65535:
                    raise Usage(f"error: Invalid value '{value}' for '{flag} <{_value_name(flag)}>': "
                                f"number too large to fit in target type\n\n{MORE}\n")
                setattr(args, U16[flag], int(value))
            else:
                setattr(args, VALUES[flag], value)
            continue
        if token.startswith("-") and not token.startswith("--") and len(token) > 2:
            # combined short flags: -ds, -sk; a value-taking short option takes the rest
            rest = list(token[1:])
            while rest:
                c = "-" + rest.pop(0)
                if c in FLAGS:
                    setattr(args, FLAGS[c], True)
                elif c in VALUES:
                    value = "".join(rest)
                    rest = []
                    if not value:
                        if i >= len(argv):
                            raise Usage(f"error: The argument '{c} <{_value_name(c)}>' requires a value but none was "
                                        f"supplied\n\n{MORE}\n")
                        value = argv[i]
                        i += 1
                    setattr(args, VALUES[c], value)
                else:
                    raise _unexpected(c)
            continue
        if token.startswith("-") and token != "-":
            raise _unexpected(token)
        positional.append(token)
    if len(positional) > 1:
        raise _unexpected(positional[1])
    if positional and args.targets:
        raise Usage("error: The argument '[TARGET]' cannot be used with '--targets <TARGETS>...'"
                    f"\n\n{USAGE}\n\n{MORE}\n")
    args.target = positional[0] if positional else None
    return args


# --------------------------------------------------------------------------- targets (lib.rs:188-254)

_ATTR_RE = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|([A-Za-z_][A-Za-z0-9_\'-]*))\s*')


def parse_fragment(fragment: str) -> tuple[str | None, str | None]:
    """`node.profile` with optional double quotes around components, like deploy-rs (via rnix)."""
    if not fragment:
        return None, None
    parts: list[str] = []
    pos = 0
    while True:
        m = _ATTR_RE.match(fragment, pos)
        if not m or m.end() == pos:
            raise DeployFailed("Error parsing flake: Unrecognized node or token encountered")
        parts.append(m.group(1).replace('\\"', '"').replace("\\\\", "\\") if m.group(1) is not None else m.group(2))
        pos = m.end()
        if pos == len(fragment):
            break
        if fragment[pos] != ".":
            raise DeployFailed("Error parsing flake: Unrecognized node or token encountered")
        pos += 1
    if len(parts) > 2:
        raise DeployFailed("Error parsing flake: The given path was too long, did you mean to put something in quotes?")
    return parts[0], parts[1] if len(parts) > 1 else None


def split_target(target: str) -> tuple[str, str | None, str | None]:
    repo, _, fragment = target.partition("#")
    node, profile = parse_fragment(fragment)
    return repo, node, profile
