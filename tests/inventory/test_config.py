"""labtui.toml (no nix): schema, defaults, checks, precise errors with file, table, line and a fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from labtui.cli.common import config_schema
from labtui.errors import ConfigError, UserError
from labtui.inventory.config import apply_config, find_config, parse_config
from labtui.inventory.merge import build_hosts

SCHEMA = config_schema()  # the registered deploy methods and check kinds

FULL = """\
[defaults]
method = "deploy-rs"
poll_interval = 5
jump_host = "bastion"

[hosts.web1]
tags = ["prod", "web"]
method = "nixos-rebuild"
critical = true
poll_interval = 10
jump_host = "root@bastion:22"

[[hosts.web1.checks]]
kind = "http"
url = "https://web1.lan/health"
period = 3

[[hosts.web1.checks]]
name = "ready"
kind = "command"
command = "test -e /run/ready"

[hosts."example.com"]
tags = ["web"]

[[tags.web.checks]]
kind = "unit"
unit = "nginx.service"

[[tags.web.checks]]
kind = "tcp"
port = 443

[[defaults.checks]]
kind = "disk"

[deploy]
parallel = 4
"""


def fleet():
    def node(hostname, opts=()):
        return {"settings": {"hostname": hostname, "sshOpts": list(opts)}, "unknown": [],
                "profiles": {"system": {"settings": {"user": "root"}, "unknown": [], "hasPath": True}}}

    data = {"deploy": {"settings": {}, "unknown": [], "nodes": {
        "web1": node("web1.lan"), "example.com": node("203.0.113.7", ["-J", "jump.lan"]), "db1": node("db1.lan")}},
        "nixosConfigurations": ["web1", "legacy"]}
    return build_hosts(data, "me")[0]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "labtui.toml"
    path.write_text(text)
    return path


def by_name(hosts):
    return {h.name: h for h in hosts}


def test_full_schema_applies(tmp_path) -> None:
    config = parse_config(write(tmp_path, FULL), SCHEMA)
    hosts, warnings = apply_config(fleet(), config, ".")
    hosts = by_name(hosts)
    web1 = hosts["web1"]
    assert (web1.method, web1.critical, web1.poll_interval, web1.tags) == ("nixos-rebuild", True, 10.0, ("prod", "web"))
    assert web1.ssh.jump_hosts == ("root@bastion:22",)
    assert {k: web1.sources[k] for k in ("method", "critical", "tags", "jump_hosts", "checks")} == dict.fromkeys(
        ("method", "critical", "tags", "jump_hosts", "checks"), "labtui.toml")
    names = [c.name for c in web1.checks]
    assert names == ["http https://web1.lan/health", "ready", "unit nginx.service", "tcp web1.lan:443", "disk /"]
    http = web1.checks[0]
    assert (http.period, http.timeout, http.retries) == (3.0, 5.0, 3)
    assert dict(http.params) == {"url": "https://web1.lan/health", "status": 200, "body": None, "insecure": False}
    assert dict(web1.checks[4].params) == {"mount": "/", "max_percent": 90}
    # tcp checks default to each host's own hostname
    example = hosts["example.com"]
    assert [c.name for c in example.checks][:2] == ["unit nginx.service", "tcp 203.0.113.7:443"]
    # the flake's -J wins over [defaults] jump_host; db1 gets the default
    assert example.ssh.jump_hosts == ("jump.lan",) and example.sources["jump_hosts"] == "ssh-opts"
    assert hosts["db1"].ssh.jump_hosts == ("bastion",) and hosts["db1"].poll_interval == 5.0
    assert hosts["legacy"].method == "nixos-rebuild"  # [defaults] method only where it is possible
    assert config.deploy.parallel == 4
    assert warnings == []


def test_unknown_key_names_line_and_nearest(tmp_path) -> None:
    path = write(tmp_path, '[defaults]\npoll_interval = 5\n\n[hosts.web1]\ntagz = ["prod"]\n')
    with pytest.raises(ConfigError) as info:
        parse_config(path, SCHEMA)
    assert info.value.message == (f"unknown key `tagz` in [hosts.web1] of {path} line 5; did you mean `tags`?")


@pytest.mark.parametrize("text, expected", [
    ('[hosts.web1]\ntags = "prod"\n', "`tags` in [hosts.web1] of {p} line 2 must be a list of strings, got 'prod'"),
    ("[hosts.web1]\ncritical = 1\n", "`critical` in [hosts.web1] of {p} line 2 must be true or false, got 1"),
    ('[defaults]\npoll_interval = "5s"\n', "`poll_interval` in [defaults] of {p} line 2 must be a number of seconds"),
    ("[defaults]\npoll_interval = -1\n", "must be more than 0, got -1"),
    ('[defaults]\nmethod = "deploy"\n',
     "unknown method 'deploy' in [defaults] of {p} line 2; did you mean `deploy-rs`?"),
    ("[deploy]\nparalel = 2\n", "unknown key `paralel` in [deploy] of {p} line 2; did you mean `parallel`?"),
    ("hosts = 3\n", "`hosts` in the top level of {p} line 1 must be a table"),
    ('[[tags.web.checks]]\nkind = "unt"\n', "unknown check kind 'unt' in [[tags.web.checks]] #1 of {p} line 2; "
                                             "did you mean `unit`?"),
    ('[hosts.a]\n[[hosts.a.checks]]\nkind = "http"\nurl = "http://x"\n[[hosts.a.checks]]\nkind = "http"\n',
     "http check in [[hosts.a.checks]] #2 of {p} line 5 needs `url`"),
    ('[[hosts.a.checks]]\nkind = "http"\nurl = "ftp://x"\n', "must start with http:// or https://"),
    ('[[hosts.a.checks]]\nkind = "http"\nurl = "http://x"\nbody = "("\n', "is not a valid regular expression"),
    ('[[hosts.a.checks]]\nkind = "tcp"\nport = 0\n', "must be between 1 and 65535"),
    ('[[hosts.a.checks]]\nkind = "tcp"\nport = 22\nhost = "a;b"\n',
     "`host` in [[hosts.a.checks]] #1 of {p} line 4 is refused: it contains `;`"),
    ('[[hosts.a.checks]]\nkind = "unit"\nunit = "x; reboot"\n', "is not a systemd unit name"),
    ('[[hosts.a.checks]]\nkind = "disk"\nmax_percent = 120\n', "must be between 0 and 100"),
    ('[[hosts.a.checks]]\nkind = "load"\nmax_per_cpu = 0\n', "must be more than 0"),
    ('[[hosts.a.checks]]\nkind = "memory"\nretries = -1\n', "must be between 0 and 100"),
    ('[[hosts.a.checks]]\nurl = "http://x"\n', "has no `kind`"),
    ('[hosts.a]\nchecks = 3\n', "must be a list of tables"),
    ('[hosts.a]\njump_host = "-oProxyCommand=x"\n', "refusing jump host '-oProxyCommand=x'"),
    ('[hosts.a]\ntags = ["a b"]\n', "bad tag 'a b'"),
    ('[tags.web]\nchecks = []\ncritical = true\n', "unknown key `critical` in [tags.web]"),
])
def test_type_and_value_errors(tmp_path, text, expected) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        parse_config(path, SCHEMA)
    assert expected.format(p=path) in info.value.message
    assert "\n" not in info.value.message


def test_toml_syntax_error_names_file_line_column(tmp_path) -> None:
    path = write(tmp_path, '[defaults]\npoll_interval = 5\n[hosts.web1\n')
    with pytest.raises(ConfigError) as info:
        parse_config(path, SCHEMA)
    assert info.value.message.startswith(f"TOML syntax error in {path} line 3, column 12: ")


def test_host_not_in_flake_names_nearest(tmp_path) -> None:
    config = parse_config(write(tmp_path, "[defaults]\n\n[hosts.web2]\ncritical = true\n"), SCHEMA)
    with pytest.raises(ConfigError) as info:
        apply_config(fleet(), config, "/my/flake")
    assert info.value.message == (f"[hosts.web2] in {tmp_path / 'labtui.toml'} line 3 names a host that is not in "
                                  "the flake /my/flake; did you mean `web1`?")


def test_method_needs_the_matching_flake_entry(tmp_path) -> None:
    config = parse_config(write(tmp_path, '[hosts.db1]\nmethod = "nixos-rebuild"\n'), SCHEMA)
    with pytest.raises(ConfigError, match="needs nixosConfigurations.db1 in the flake"):
        apply_config(fleet(), config, ".")


def test_jump_host_conflict_warns(tmp_path) -> None:
    text = '[hosts."example.com"]\njump_host = "other"\n[tags.none]\nchecks = []\n'
    config = parse_config(write(tmp_path, text), SCHEMA)
    hosts, warnings = apply_config(fleet(), config, ".")
    assert by_name(hosts)["example.com"].ssh.jump_hosts == ("jump.lan",)
    assert any("is ignored because the flake's sshOpts already jump via jump.lan" in w for w in warnings)
    assert any("[tags.none]" in w and "applies to no host" in w for w in warnings)


def test_find_config_order(tmp_path, monkeypatch) -> None:
    flake_dir = tmp_path / "flake"
    flake_dir.mkdir()
    user_config = Path(__import__("os").environ["XDG_CONFIG_HOME"]) / "labtui" / "config.toml"
    assert find_config(None, flake_dir) is None
    user_config.parent.mkdir(parents=True)
    user_config.write_text("")
    assert find_config(None, flake_dir) == user_config
    (flake_dir / "labtui.toml").write_text("")
    assert find_config(None, flake_dir) == flake_dir / "labtui.toml"
    explicit = tmp_path / "other.toml"
    explicit.write_text("")
    assert find_config(str(explicit), flake_dir) == explicit
    with pytest.raises(UserError, match="does not exist"):
        find_config(str(tmp_path / "missing.toml"), flake_dir)


def test_hostname_and_ssh_user_for_hosts_that_are_not_nodes(tmp_path) -> None:
    text = ('[hosts.legacy]\nhostname = "legacy.lan"\nssh_user = "root"\n'
            '[[hosts.legacy.checks]]\nkind = "tcp"\nport = 22\n')
    hosts, _ = apply_config(fleet(), parse_config(write(tmp_path, text), SCHEMA), ".")
    legacy = by_name(hosts)["legacy"]
    assert (legacy.hostname, legacy.ssh.hostname, legacy.ssh.destination) == ("legacy.lan", "legacy.lan",
                                                                              "root@legacy.lan")
    assert legacy.sources["hostname"] == legacy.sources["ssh_user"] == "labtui.toml"
    assert legacy.checks[0].params["host"] == "legacy.lan"
    path = write(tmp_path, '[hosts.web1]\nhostname = "other.lan"\n')
    with pytest.raises(ConfigError) as info:
        apply_config(fleet(), parse_config(path, SCHEMA), ".")
    assert info.value.message == (f"`hostname` in [hosts.web1] of {path} line 1 would differ from what deploy-rs "
                                  "uses; set hostname in deploy.nodes.web1 of the flake instead")
    with pytest.raises(ConfigError, match="refusing ssh user 'a b'"):
        parse_config(write(tmp_path, '[hosts.legacy]\nssh_user = "a b"\n'), SCHEMA)


def test_the_documented_example_is_valid(tmp_path) -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "config.md").read_text()
    example = docs.split("```toml\n", 1)[1].split("```", 1)[0]
    hosts, warnings = apply_config(fleet(), parse_config(write(tmp_path, example), SCHEMA), ".")
    web1 = by_name(hosts)["web1"]
    assert web1.method == "nixos-rebuild" and web1.critical
    assert [c.kind for c in web1.checks] == ["http", "unit", "disk"]
    assert by_name(hosts)["legacy"].ssh.destination == "root@legacy.lan"
    assert warnings == []
