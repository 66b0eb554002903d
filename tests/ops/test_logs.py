from __future__ import annotations

import pytest

from labtui.errors import UserError
from labtui.ops.logs import (
    NO_JOURNALCTL,
    LogEntry,
    LogNotice,
    LogQuery,
    LogStream,
    journalctl_command,
    parse_journal_line,
    parse_priority,
    read_journal,
    validate_query,
)
from tests.ops.conftest import wait_for


async def collect(stream, n=None):
    items = []
    async for item in stream:
        items.append(item)
        if n is not None and len([i for i in items if isinstance(i, LogEntry)]) >= n:
            break
    return items


def test_command_is_quoted_and_resumes_after_cursor():
    cmd = journalctl_command(LogQuery(units=("nginx.service",), priority=3, lines=5, since="-1h", follow=True))
    assert cmd.startswith("/bin/sh -c ") and "--unit=nginx.service" in cmd and "--since=-1h" in cmd
    resumed = journalctl_command(LogQuery(lines=5, since="-1h", follow=True), after_cursor="s=x;i=5")
    assert "--after-cursor=s=x;i=5" in resumed and "--lines" not in resumed and "--since" not in resumed


def test_validation_and_priorities():
    assert parse_priority("err") == 3 and parse_priority("7") == 7 and parse_priority(None) is None
    with pytest.raises(UserError):
        parse_priority("loud")
    with pytest.raises(UserError, match="not a unit name"):
        validate_query(LogQuery(units=("x; rm -rf /",)))
    with pytest.raises(UserError, match="--since"):
        validate_query(LogQuery(since="$(reboot)"))


def test_parse_recorded_json_lines():
    line = ('{"__CURSOR":"s=1;i=2","__REALTIME_TIMESTAMP":"1700000000000000","PRIORITY":"3",'
            '"_SYSTEMD_UNIT":"nginx.service","MESSAGE":[104,105],"_HOSTNAME":"web1"}')
    entry = parse_journal_line(line)
    assert entry == LogEntry("s=1;i=2", 1700000000.0, "nginx.service", 3, "hi", "web1")
    assert parse_journal_line("Hint: You are currently not seeing messages from other users") == LogNotice(
        "stderr", "Hint: You are currently not seeing messages from other users")
    assert parse_journal_line(NO_JOURNALCTL).kind == "missing"


async def test_last_lines_with_priority_filter(shell, clock):
    items = await collect(read_journal(shell, "web1", LogQuery(lines=3), clock=clock))
    assert [i.message for i in items] == ["Accepted publickey for root #4", "Accepted publickey for root #5",
                                          "upstream timed out"]
    errors = await collect(read_journal(shell, "web1", LogQuery(priority=3), clock=clock))
    assert [(i.unit, i.priority) for i in errors] == [("nginx.service", 3)]
    bad = await collect(read_journal(shell, "web1", LogQuery(since="garbage"), clock=clock))
    assert bad == [LogNotice("stderr", "Failed to parse timestamp: garbage")]


async def test_follow_sees_new_entries(lab, shell, clock):
    stream = read_journal(shell, "web1", LogQuery(units=("app.service",), follow=True), clock=clock)
    with lab.update("web1") as sim:
        sim.log("app.service", "hello")
        sim.log("other.service", "not mine")
        sim.log("app.service", "world")
    items = await collect(stream, 2)
    await stream.aclose()
    assert [i.message for i in items] == ["hello", "world"]


async def test_stream_drops_and_resumes_without_duplicates(lab, shell, clock):
    stream = read_journal(shell, "web1", LogQuery(lines=2, follow=True), clock=clock)
    first = await collect(stream, 2)
    assert [i.message for i in first] == ["Accepted publickey for root #5", "upstream timed out"]

    # The host drops; entries keep being written while it is away; it comes back after a few retries.
    with lab.update("web1") as sim:
        sim.reachable = False
        sim.log("app.service", "written while away 1")
        sim.log("app.service", "written while away 2")

    def come_back(c):
        if len(c.sleeps) == 3:
            with lab.update("web1") as sim:
                sim.reachable = True
                sim.log("app.service", "after return")

    clock.on_sleep = come_back
    rest = await collect(stream, 3)
    await stream.aclose()
    entries = [i.message for i in rest if isinstance(i, LogEntry)]
    notices = [i.kind for i in rest if isinstance(i, LogNotice)]
    assert entries == ["written while away 1", "written while away 2", "after return"]
    assert notices[:3] == ["reconnecting"] * 3 and "resumed" in notices
    assert clock.sleeps == [1.0, 2.0, 4.0]  # back-off


async def test_log_stream_buffer_pause_filter_switch(lab, shell, clock):
    log = LogStream(shell, "web1", LogQuery(lines=100, follow=True), capacity=4, clock=clock)
    log.start()
    await wait_for(lambda: len(log) == 4)  # 6 entries in the journal, the buffer keeps the last 4
    assert [e.message for e in log.visible()][-1] == "upstream timed out"
    log.pause()
    with lab.update("web1") as sim:
        sim.log("app.service", "new while paused")
    await wait_for(lambda: log.pending == 1)
    assert "new while paused" not in [e.message for e in log.visible()]
    log.resume()
    assert log.visible()[-1].message == "new while paused"
    log.set_filter(priority="err")
    assert [e.message for e in log.visible()] == ["upstream timed out"]
    log.clear_filters()
    log.set_filter(text="PAUSED")
    assert [e.message for e in log.visible()] == ["new while paused"]
    log.clear_filters()
    await log.switch_unit("nginx.service")
    await wait_for(lambda: len(log) == 1)
    assert log.visible()[0].unit == "nginx.service"
    await log.stop()


async def test_wrong_ssh_settings_are_not_retried(clock):
    from labtui.ssh.api import SshConfigError

    class BadKeyShell:
        async def stream(self, host, command):
            raise SshConfigError(host, "identity file /keys/web1 does not exist", "fix IdentityFile")
            yield  # pragma: no cover

    with pytest.raises(SshConfigError):
        await collect(read_journal(BadKeyShell(), "web1", LogQuery(follow=True), clock=clock))
    assert clock.sleeps == []
    log = LogStream(BadKeyShell(), "web1", clock=clock)
    log.start()
    await log.ended.wait()
    assert log.notices[-1].kind == "ended" and "fix IdentityFile" in log.notices[-1].message
