"""labtui.toml: what the flake does not say (tags, deploy method, checks, jump host, poll interval).

Every mistake is reported with the file, the table and, where we can find it, the line, plus the
nearest valid key: a typo in a config file should cost seconds, not a search through docs.
The schema is documented in docs/config.md. The deploy methods and check kinds it may name come from the
caller (`ConfigSchema`, built from the registries above this layer).
"""

from __future__ import annotations

import difflib
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from labtui.errors import ConfigError, UserError
from labtui.inventory.model import CheckSpec, DeployConfig, Host
from labtui.inventory.schema import REQUIRED, ConfigSchema, bounds_problem, type_text
from labtui.inventory.validate import check_hostname, check_jump_hosts, check_user
from labtui.paths import config_dir

CONFIG_NAME = "labtui.toml"
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")

# The keys every check has, whatever its kind: {key: (type, default or REQUIRED)}.
CHECK_COMMON: dict[str, tuple[type | tuple[type, ...], Any]] = {
    "kind": (str, REQUIRED), "name": (str, None), "period": ((int, float), 2.0), "timeout": ((int, float), 5.0),
    "retries": (int, 3)}
# Every number labtui.toml holds has bounds: TOML reads nan, inf and 1e308 as numbers, and a poll interval of
# nan stops polling silently, 1e11 retries never end. Seconds unless said.
MAX_POLL_INTERVAL = 86400.0
MAX_CHECK_PERIOD = 3600.0
MAX_CHECK_TIMEOUT = 3600.0
MAX_CHECK_RETRIES = 100
MAX_PARALLEL = 1000  # hosts deployed at once
# Deeper than this, nested arrays or inline tables are refused before tomllib recurses (it has no limit of its own).
MAX_NESTING = 64
HOST_KEYS = ("tags", "method", "critical", "poll_interval", "jump_host", "checks", "hostname", "ssh_user")
DEFAULT_KEYS = ("method", "critical", "poll_interval", "jump_host", "checks")
TOP_KEYS = ("defaults", "hosts", "tags", "deploy")
DEPLOY_KEYS = ("parallel", "build_first")


@dataclass
class HostSettings:
    """One [hosts.NAME] (or [defaults]) table, validated; None means "not set here"."""

    tags: tuple[str, ...] | None = None
    method: str | None = None
    critical: bool | None = None
    poll_interval: float | None = None
    jump_host: str | None = None
    checks: list[dict[str, Any]] = field(default_factory=list)  # validated, defaults filled, `name` set
    # Only for hosts that are not deploy-rs nodes (the node's hostname/sshUser are what deploy-rs uses).
    hostname: str | None = None
    ssh_user: str | None = None
    line: int | None = None  # of the [hosts.NAME] header, for errors found when applying


@dataclass
class LabConfig:
    path: Path
    schema: ConfigSchema
    defaults: HostSettings = field(default_factory=HostSettings)
    hosts: dict[str, HostSettings] = field(default_factory=dict)
    tag_checks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    deploy: DeployConfig = field(default_factory=DeployConfig)


def find_config(config: str | None, flake_dir: Path | None) -> Path | None:
    """--config PATH (must exist), else <flake dir>/labtui.toml, else $XDG_CONFIG_HOME/labtui/config.toml."""
    if config:
        path = Path(config).expanduser()
        if not path.is_file():
            raise UserError(f"config file {path} does not exist; create it with `labtui init` or fix --config")
        return path.resolve()
    candidates = ([flake_dir / CONFIG_NAME] if flake_dir else []) + [config_dir() / "config.toml"]
    return next((p for p in candidates if p.is_file()), None)


# --- locating keys in the raw text, for error messages ----------------------------------------------------

# Where a value sits in labtui.toml: table names and key parts, with array-of-tables indexes.
TablePath = tuple[str | int, ...]

_KEY_PART = re.compile(r'\s*("(?:[^"\\]|\\.)*"|\'[^\']*\'|[A-Za-z0-9_-]+)\s*(\.|$)')


def _split_dotted(text: str) -> tuple[str, ...] | None:
    parts: list[str] = []
    pos = 0
    while pos < len(text):
        m = _KEY_PART.match(text, pos)
        if not m:
            return None
        part = m.group(1)
        if part[0] in "\"'":
            part = part[1:-1]
        parts.append(part)
        pos = m.end()
    return tuple(parts)


class Locator:
    """Maps table/key paths of a TOML text to line numbers (best effort; None when not found)."""

    def __init__(self, text: str) -> None:
        self.headers: dict[TablePath, int] = {}
        self.keys: dict[TablePath, int] = {}
        current: TablePath = ()
        array_counts: dict[TablePath, int] = {}
        for lineno, line in enumerate(text.splitlines(), 1):
            stripped = line.strip()
            if stripped.startswith("[["):
                path = _split_dotted(stripped[2:].split("]]", 1)[0])
                if path is not None:
                    index = array_counts.get(path, 0)
                    array_counts[path] = index + 1
                    current = (*path, index)
                    self.headers.setdefault(current, lineno)
            elif stripped.startswith("["):
                path = _split_dotted(stripped[1:].split("]", 1)[0])
                if path is not None:
                    current = path
                    self.headers.setdefault(current, lineno)
            elif "=" in stripped and not stripped.startswith("#"):
                key = _split_dotted(stripped.split("=", 1)[0].strip())
                if key:
                    self.keys.setdefault((*current, *key), lineno)

    def line(self, path: TablePath, key: str | None = None) -> int | None:
        target = (*path, key) if key is not None else path
        while target:
            for table in (self.keys, self.headers):
                if target in table:
                    return table[target]
            target = target[:-1]
        return None


def table_name(path: TablePath) -> str:
    """("hosts", "web1", "checks", 0) -> "[[hosts.web1.checks]] #1"."""
    def part(p: object) -> str:
        return p if isinstance(p, str) and re.fullmatch(r"[A-Za-z0-9_-]+", p) else f'"{p}"'

    if path and isinstance(path[-1], int):
        return f"[[{'.'.join(part(p) for p in path[:-1])}]] #{path[-1] + 1}"
    return f"[{'.'.join(part(p) for p in path)}]" if path else "the top level"


class _Reader:
    def __init__(self, path: Path, text: str, schema: ConfigSchema) -> None:
        self.path = path
        self.locator = Locator(text)
        self.schema = schema

    def where(self, path: TablePath, key: str | None = None) -> str:
        line = self.locator.line(path, key)
        return f"{table_name(path)} of {self.path}" + (f" line {line}" if line else "")

    def check_keys(self, table: Mapping[str, Any], valid: tuple[str, ...], path: TablePath) -> None:
        for key in table:
            if key not in valid:
                close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
                hint = f"did you mean `{close[0]}`?" if close else "valid keys: " + ", ".join(valid)
                raise ConfigError(f"unknown key `{key}` in {self.where(path, key)}; {hint}")

    def table(self, parent: Mapping[str, Any], key: str, path: TablePath) -> dict[str, Any]:
        value = parent.get(key, {})
        if not isinstance(value, dict):
            header = ".".join((*map(str, path), key))
            raise ConfigError(f"`{key}` in {self.where(path, key)} must be a table like [{header}]")
        return value

    def value(self, table: Mapping[str, Any], key: str, expected: type | tuple[type, ...], path: TablePath,
              what: str | None = None) -> Any:
        value = table.get(key)
        if value is None:
            return None
        types = expected if isinstance(expected, tuple) else (expected,)
        # bool is an int subclass in Python: `critical = 1` and `port = true` must both be refused.
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            what = what or {str: "a string", bool: "true or false", int: "a whole number", float: "a number",
                            list: "a list"}.get(types[0], types[0].__name__)
            raise ConfigError(f"`{key}` in {self.where(path, key)} must be {what}, got {value!r}")
        return value

    def positive(self, table: Mapping[str, Any], key: str, path: TablePath, highest: float) -> Any:
        """A number of seconds, more than 0 and at most `highest` (nan and the infinities refused)."""
        value = self.value(table, key, (int, float), path, "a number of seconds")
        if value is None:
            return None
        if not math.isfinite(value):
            raise ConfigError(f"`{key}` in {self.where(path, key)} must be a finite number of seconds, got {value!r}")
        if value <= 0:
            raise ConfigError(f"`{key}` in {self.where(path, key)} must be more than 0, got {value!r}")
        if value > highest:
            raise ConfigError(f"`{key}` in {self.where(path, key)} must be at most {highest:g} seconds, got {value!r}")
        return value

    def whole(self, table: Mapping[str, Any], key: str, path: TablePath, lowest: int, highest: int,
              what: str) -> int | None:
        value = self.value(table, key, int, path, what)
        if value is not None and not lowest <= value <= highest:
            raise ConfigError(f"`{key}` in {self.where(path, key)} must be between {lowest} and {highest}, "
                              f"got {value!r}")
        return value  # type: ignore[no-any-return]


def nesting_line(text: str, limit: int) -> int | None:
    """The line where arrays/inline tables first nest deeper than `limit` (brackets in strings and comments do not
    count), else None. tomllib recurses once per level: 2000 levels are a RecursionError, not a TOML error."""
    depth = 0
    line = 1
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
        elif c == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        elif c in "\"'":
            quote = c * 3 if text.startswith(c * 3, i) else c
            i += len(quote)
            while i < n and not text.startswith(quote, i):
                if text[i] == "\n":
                    line += 1
                i += 2 if c == '"' and text[i] == "\\" else 1
            i += len(quote)
            continue
        elif c in "[{":
            depth += 1
            if depth > limit:
                return line
        elif c in "]}":
            depth = max(0, depth - 1)
        i += 1
    return None


def parse_config(path: Path, schema: ConfigSchema) -> LabConfig:
    """Read and validate labtui.toml; ConfigError with file, table, line and a fix on any mistake."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read config file {path}: {exc.strerror}; check its permissions") from None
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text; save it as UTF-8") from None
    deep = nesting_line(text, MAX_NESTING)
    if deep is not None:
        raise ConfigError(f"{path} line {deep} nests arrays or inline tables more than {MAX_NESTING} levels deep; "
                          "labtui.toml needs a few at most: fix the file (schema: docs/config.md)")
    try:
        data = tomllib.loads(text)
    except RecursionError:  # nesting the scan above missed: still one line, never a traceback
        raise ConfigError(f"{path} nests arrays or tables too deeply; fix the file (schema: docs/config.md)") from None
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        m = re.search(r"\(at line (\d+), column (\d+)\)", message)
        what = re.sub(r"\s*\(at .*\)$", "", message)
        last_line = text.count("\n") + 1
        where = f"line {m.group(1)}, column {m.group(2)}" if m else f"at the end of the file (line {last_line})"
        raise ConfigError(f"TOML syntax error in {path} {where}: {what}; "
                          "fix the file (schema: docs/config.md)") from None
    reader = _Reader(path, text, schema)
    reader.check_keys(data, TOP_KEYS, ())
    config = LabConfig(path=path, schema=schema)
    config.defaults = _host_settings(reader, reader.table(data, "defaults", ()), ("defaults",), DEFAULT_KEYS)
    hosts = reader.table(data, "hosts", ())
    for name, table in hosts.items():
        if not isinstance(table, dict):
            raise ConfigError(f"`{name}` in {reader.where(('hosts',), name)} must be a table like [hosts.{name}]")
        config.hosts[name] = _host_settings(reader, table, ("hosts", name), HOST_KEYS)
    for tag, table in reader.table(data, "tags", ()).items():
        if not isinstance(table, dict):
            raise ConfigError(f"`{tag}` in {reader.where(('tags',), tag)} must be a table like [tags.{tag}]")
        reader.check_keys(table, ("checks",), ("tags", tag))
        config.tag_checks[tag] = _checks(reader, table, ("tags", tag))
    deploy = reader.table(data, "deploy", ())
    reader.check_keys(deploy, DEPLOY_KEYS, ("deploy",))
    parallel = reader.whole(deploy, "parallel", ("deploy",), 1, MAX_PARALLEL, "a whole number of hosts")
    build_first = reader.value(deploy, "build_first", bool, ("deploy",))
    config.deploy = DeployConfig(parallel=parallel, build_first=True if build_first is None else build_first)
    return config


def _host_settings(reader: _Reader, table: Mapping[str, Any], path: TablePath, valid: tuple[str, ...]) -> HostSettings:
    reader.check_keys(table, valid, path)
    settings = HostSettings()
    tags = reader.value(table, "tags", list, path, "a list of strings")
    if tags is not None:
        for tag in tags:
            if not isinstance(tag, str) or not _TAG.fullmatch(tag):
                raise ConfigError(f"bad tag {tag!r} in {reader.where(path, 'tags')}; "
                                  "use letters, digits and `_.-` (select with @tag)")
        settings.tags = tuple(dict.fromkeys(tags))
    method = reader.value(table, "method", str, path)
    methods = reader.schema.method_names()
    if method is not None and method not in methods:
        close = difflib.get_close_matches(method, methods, n=1, cutoff=0.3)
        hint = f"did you mean `{close[0]}`?" if close else "use " + " or ".join(f'"{m}"' for m in methods)
        raise ConfigError(f"unknown method {method!r} in {reader.where(path, 'method')}; {hint}")
    settings.method = method
    settings.critical = reader.value(table, "critical", bool, path)
    settings.poll_interval = reader.positive(table, "poll_interval", path, MAX_POLL_INTERVAL)
    jump = reader.value(table, "jump_host", str, path, 'a string like "[user@]host[:port]"')
    if jump is not None:
        check_jump_hosts(jump, f"({reader.where(path, 'jump_host')})")
    settings.jump_host = jump
    settings.checks = _checks(reader, table, path)
    hostname = reader.value(table, "hostname", str, path)
    if hostname is not None:
        settings.hostname = check_hostname("host name", hostname, f"({reader.where(path, 'hostname')})")
    ssh_user = reader.value(table, "ssh_user", str, path)
    if ssh_user is not None:
        settings.ssh_user = check_user("ssh user", ssh_user, f"({reader.where(path, 'ssh_user')})")
    settings.line = reader.locator.line(path)
    return settings


def _checks(reader: _Reader, table: Mapping[str, Any], path: TablePath) -> list[dict[str, Any]]:
    entries = table.get("checks", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ConfigError(f"`checks` in {reader.where(path, 'checks')} must be a list of tables, "
                          f"written [[{'.'.join(map(str, path))}.checks]]")
    return [_check(reader, entry, (*path, "checks", i)) for i, entry in enumerate(entries)]


def _check(reader: _Reader, entry: Mapping[str, Any], path: TablePath) -> dict[str, Any]:
    kinds = reader.schema.declarable_kinds()
    kind = reader.value(entry, "kind", str, path)
    if kind is None:
        raise ConfigError(f"check in {reader.where(path)} has no `kind`; use one of: {', '.join(kinds)}")
    check_kind = reader.schema.check_kind(kind)
    if check_kind is None or not check_kind.declarable:
        close = difflib.get_close_matches(kind, kinds, n=1, cutoff=0.5)
        hint = f"did you mean `{close[0]}`?" if close else "use one of: " + ", ".join(kinds)
        raise ConfigError(f"unknown check kind {kind!r} in {reader.where(path, 'kind')}; {hint}")
    reader.check_keys(entry, tuple(CHECK_COMMON) + tuple(check_kind.params), path)
    check: dict[str, Any] = {"kind": kind, "name": reader.value(entry, "name", str, path)}
    for key, highest in (("period", MAX_CHECK_PERIOD), ("timeout", MAX_CHECK_TIMEOUT)):
        value = reader.positive(entry, key, path, highest)
        check[key] = float(value if value is not None else CHECK_COMMON[key][1])
    retries = reader.whole(entry, "retries", path, 0, MAX_CHECK_RETRIES, "a whole number")
    check["retries"] = retries if retries is not None else CHECK_COMMON["retries"][1]
    params: dict[str, Any] = {}
    for key, param in check_kind.params.items():
        value = reader.value(entry, key, param.types, path, type_text(param.types))
        if param.bounds is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
            out_of_bounds = bounds_problem(value, *param.bounds)
            if out_of_bounds is not None:
                raise ConfigError(f"`{key}` in {reader.where(path, key)} {out_of_bounds}")
        if value is None:
            if param.required:
                example = f" ({param.example})" if param.example else ""
                raise ConfigError(f"{kind} check in {reader.where(path)} needs `{key}`{example}")
            value = param.default
        params[key] = value
    problem = check_kind.problem(params)
    if problem is not None:
        raise ConfigError(f"`{problem.key}` in {reader.where(path, problem.key)} {problem.text}")
    check["params"] = params
    return check


def _spec(check: Mapping[str, Any], hostname: str, schema: ConfigSchema) -> CheckSpec:
    kind = schema.check_kind(check["kind"])
    assert kind is not None  # parse_config checked it
    params = kind.complete(check["params"], hostname)
    return CheckSpec(kind=check["kind"], name=check["name"] or kind.default_name(params), params=params,
                     period=check["period"], timeout=check["timeout"], retries=check["retries"])


def apply_config(hosts: list[Host], config: LabConfig, flake: str) -> tuple[list[Host], list[str]]:
    """Hosts with labtui.toml applied (host table > [defaults] > built-in default) and warnings."""
    names = [h.name for h in hosts]
    for name in config.hosts:
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1, cutoff=0.4)
            hint = f"did you mean `{close[0]}`?" if close else "the flake's hosts: " + (", ".join(names) or "none")
            line = config.hosts[name].line
            where = f"{config.path}" + (f" line {line}" if line else "")
            raise ConfigError(f"[hosts.{name}] in {where} names a host that is not in the flake {flake}; {hint}")
    warnings: list[str] = []
    result = []
    tagged = {tag for name, own in config.hosts.items() for tag in (own.tags or ())}
    for tag in config.tag_checks:
        if tag not in tagged:
            warnings.append(f"[tags.{tag}] in {config.path} applies to no host (no [hosts.*] has tags = [\"{tag}\"])")
    for host in hosts:
        own = config.hosts.get(host.name, HostSettings())
        result.append(_apply_host(host, own, config, warnings))
    return result, warnings


def _apply_host(host: Host, own: HostSettings, config: LabConfig, warnings: list[str]) -> Host:
    defaults = config.defaults
    sources = dict(host.sources)
    changes: dict[str, Any] = {}
    where = f"[hosts.{host.name}] of {config.path}" + (f" line {own.line}" if own.line else "")
    possible = [m.name for m in config.schema.methods if m.flake_lacks(host) is None]
    if own.method is not None:
        method = config.schema.method(own.method)
        lacking = method.flake_lacks(host) if method is not None else None
        if lacking is not None:
            instead = f"use method = \"{possible[0]}\" or add it" if possible else "add it"
            raise ConfigError(f"method {own.method!r} in {where} needs {lacking} in the flake; {instead}")
        changes["method"] = own.method
    elif defaults.method is not None and defaults.method in possible:
        changes["method"] = defaults.method
    if own.hostname is not None or own.ssh_user is not None:
        key = "hostname" if own.hostname is not None else "ssh_user"
        if host.in_deploy:
            flake_key = "hostname" if key == "hostname" else "sshUser"
            raise ConfigError(f"`{key}` in {where} would differ from what deploy-rs uses; "
                              f"set {flake_key} in deploy.nodes.{host.name} of the flake instead")
        if host.colmena is not None:
            option = "targetHost" if key == "hostname" else "targetUser"
            raise ConfigError(f"`{key}` in {where} would differ from what colmena uses; "
                              f"set deployment.{option} of the hive's node {host.name} instead")
        hostname = own.hostname or host.hostname
        changes["hostname"] = hostname
        changes["ssh"] = replace(host.ssh, hostname=hostname, user=own.ssh_user or host.ssh.user)
    for key in ("critical", "poll_interval"):
        value = getattr(own, key) if getattr(own, key) is not None else getattr(defaults, key)
        if value is not None:
            changes[key] = float(value) if key == "poll_interval" else value
    if own.tags is not None:
        changes["tags"] = own.tags
    jump = own.jump_host or defaults.jump_host
    if jump is not None:
        if host.ssh.jump_hosts:
            if own.jump_host:
                warnings.append(f"jump_host {own.jump_host!r} in {where} is ignored because "
                                f"the flake's sshOpts already jump via {','.join(host.ssh.jump_hosts)}")
        else:
            changes["ssh"] = replace(changes.get("ssh", host.ssh), jump_hosts=tuple(jump.split(",")))
            sources["jump_hosts"] = "labtui.toml"
    tags = changes.get("tags", host.tags)
    checks = own.checks + [c for tag in tags for c in config.tag_checks.get(tag, [])] + defaults.checks
    if checks:
        specs: list[CheckSpec] = []
        for check in checks:
            spec = _spec(check, changes.get("hostname", host.hostname), config.schema)
            if all(s.name != spec.name for s in specs):
                specs.append(spec)
        changes["checks"] = tuple(specs)
    for key in changes:
        if key != "ssh":
            sources[key] = "labtui.toml"
    if own.ssh_user is not None:
        sources["ssh_user"] = "labtui.toml"
    return replace(host, sources=sources, **changes)


def default_config_path(flake_dir: Path | None) -> Path:
    """Where `labtui init` writes: next to flake.nix, or the user config for a remote flake."""
    return flake_dir / CONFIG_NAME if flake_dir else config_dir() / "config.toml"

