"""Derived values: host state, reboot needed, drift, errors keeping the last known values, JSON export."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

import pytest

from labtui.ssh.api import AuthFailed, HostKeyChanged, HostState, HostUnreachable
from labtui.status.derive import (
    data_age,
    drift,
    host_state,
    reboot_needed,
    status_from_error,
    status_from_report,
    with_flake,
)
from labtui.status.export import fleet_json, human_duration
from labtui.status.model import HostStatus, SystemLink
from labtui.status.parse import ProbeReport, parse_probe


@dataclass(frozen=True)
class Paths:
    profile_path: str | None = None
    toplevel: str | None = None


def link(path: str, kernel: str | None = "k1", initrd: str | None = "i1", modules: str | None = "m1") -> SystemLink:
    return SystemLink(path=path, kernel=kernel, initrd=initrd, kernel_modules=modules)


@pytest.mark.parametrize("current, booted, expected", [
    (link("/a"), link("/a"), False),
    (link("/a"), link("/b"), False),  # new generation, same kernel/initrd/modules
    (link("/a", kernel="k2"), link("/b"), True),
    (link("/a", initrd="i2"), link("/b"), True),
    (link("/a", modules="m2"), link("/b"), True),
    (link("/a", kernel=None, initrd=None, modules=None), link("/b"), None),  # nothing comparable
    (link("/a", kernel=None), link("/b"), False),  # what can be compared matches
    (None, link("/b"), None),
    (link("/a"), None, None),
])
def test_reboot_needed(current, booted, expected):
    assert reboot_needed(current, booted) is expected


def status(**kw) -> HostStatus:
    return HostStatus(host="web1", state=HostState.UP, observed_at=100.0, **kw)


@pytest.mark.parametrize("host, flake, expected", [
    (status(system_profile="/p1", current_system=link("/t1")), Paths("/p1", "/t9"), "in sync"),
    (status(system_profile="/p0", current_system=link("/t1")), Paths("/p1", "/t1"), "in sync"),
    (status(system_profile="/p0", current_system=link("/t0")), Paths("/p1", "/t1"), "outdated"),
    (status(system_profile="/p0"), Paths(profile_path="/p1"), "outdated"),
    (status(), Paths("/p1", "/t1"), "unknown"),  # the host does not say what it runs
    (status(system_profile="/p0"), None, "unknown"),  # not evaluated yet
    (status(system_profile="/p0"), Paths(None, None), "unknown"),
])
def test_drift(host, flake, expected):
    assert drift(host, flake) == expected


def test_with_flake_gives_reasons():
    s = status(system_profile="/p0")
    assert with_flake(s, None, "the flake is being evaluated").missing["drift"] == "the flake is being evaluated"
    done = with_flake(s, Paths("/p1", "/t1"))
    assert done.drift == "outdated" and done.flake_path == "/t1" and "drift" not in done.missing
    empty = with_flake(s, Paths(None, None), None)
    assert empty.drift == "unknown" and empty.missing["drift"]


@pytest.mark.parametrize("lines, state, words", [
    (["labtui-probe 1", "system-running\trunning", "failed-units-listed\tyes", "end"], HostState.UP, None),
    (["labtui-probe 1", "system-running\tstarting", "end"], HostState.UP, None),
    (["labtui-probe 1", "system-running\tmaintenance", "end"], HostState.DEGRADED, "maintenance"),
    (["labtui-probe 1", "system-running\trunning", "failed-units-listed\tyes", "failed-unit\ta.service",
      "failed-unit\tb.mount", "end"], HostState.DEGRADED, "2 failed units: a.service, b.mount"),
    (["labtui-probe 1", "hostname\tx"], HostState.DEGRADED, "cut short"),
    (["garbage"], HostState.DEGRADED, "no readable output"),
])
def test_host_state(lines, state, words):
    got, why = host_state(parse_probe(lines))
    assert got is state
    assert (why is None) if words is None else (words in why)


def test_errors_keep_the_last_known_values_and_their_age():
    answered = status_from_report("web1", parse_probe(["labtui-probe 1", "hostname\tweb1", "load\t1 2 3", "end"]),
                                  observed_at=100.0, rtt_ms=5.0)
    assert answered.answered_at == 100.0 and data_age(answered, now=130.0) == 30.0
    down = status_from_error("web1", HostUnreachable("web1", "connection refused", "start sshd"),
                             observed_at=160.0, previous=answered)
    assert down.state is HostState.DOWN and down.error == "connection refused" and down.hint == "start sshd"
    assert down.load == (1.0, 2.0, 3.0) and down.answered_at == 100.0 and down.observed_at == 160.0
    assert down.rtt_ms is None and data_age(down, now=160.0) == 60.0
    never = status_from_error("web2", AuthFailed("web2", "denied"), observed_at=1.0)
    assert never.state is HostState.AUTH_FAILED and never.answered_at is None and data_age(never) is None
    assert status_from_error("web3", HostKeyChanged("web3", "changed")).state is HostState.HOST_KEY_CHANGED


def test_fleet_json_is_plain_json_with_counts():
    up = status_from_report("web1", ProbeReport(version=1, complete=True, hostname="web1"), observed_at=100.0)
    down = replace(status_from_error("db1", HostUnreachable("db1", "refused"), observed_at=100.0))
    data = json.loads(json.dumps(fleet_json([up, down], now=110.0)))
    assert data["schema"] == "labtui.status/1" and data["ok"] is False
    assert data["counts"] == {"up": 1, "down": 1}
    assert data["hosts"][0]["data_age_s"] == 10.0 and data["hosts"][1]["data_age_s"] is None
    assert data["hosts"][1]["error"] == "refused"


@pytest.mark.parametrize("seconds, text", [(None, "-"), (5, "5s"), (125, "2m"), (7200, "2h"), (3 * 86400, "3d")])
def test_human_duration(seconds, text):
    assert human_duration(seconds) == text
