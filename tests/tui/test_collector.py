"""Full garbage collections wait for a quiet moment (labtui.tui.collector.IdleCollector), on a fake gc and clock."""

from __future__ import annotations

from labtui.tui.collector import NO_AUTOMATIC_FULL_PASS, IdleCollector


class FakeGc:
    def __init__(self) -> None:
        self.threshold = (700, 10, 10)
        self.frozen = 0
        self.collected = 0

    def freeze(self) -> None:
        self.frozen += 1

    def collect(self, generation: int = 2) -> int:
        self.collected += 1
        return 0

    def get_threshold(self) -> tuple[int, int, int]:
        return self.threshold

    def set_threshold(self, young: int, middle: int, full: int, /) -> None:
        self.threshold = (young, middle, full)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def collector(every: float = 20.0, quiet: float = 1.0) -> tuple[IdleCollector, FakeGc, Clock]:
    gc, clock = FakeGc(), Clock()
    return IdleCollector(every=every, quiet=quiet, clock=clock, collector=gc), gc, clock


def test_nothing_changes_until_the_long_lived_objects_are_frozen():
    idle, gc, clock = collector()
    clock.now += 60
    assert not idle.tick() and gc.collected == 0 and gc.threshold == (700, 10, 10)


def test_freezing_switches_automatic_full_passes_off_and_keeps_the_younger_ones():
    idle, gc, _ = collector()
    idle.freeze()
    assert gc.frozen == 1 and gc.threshold == (700, 10, NO_AUTOMATIC_FULL_PASS)
    idle.freeze()  # later: what was added since is frozen too, the saved thresholds stay the user's
    idle.stop()
    assert gc.frozen == 2 and gc.threshold == (700, 10, 10)


def test_a_full_pass_runs_when_due_and_nobody_types():
    idle, gc, clock = collector(every=20, quiet=1)
    idle.freeze()
    clock.now += 19
    assert not idle.tick()  # not due yet
    clock.now += 2
    idle.input_seen()
    clock.now += 0.5
    assert not idle.tick()  # due, but a key was pressed half a second ago
    clock.now += 1
    assert idle.tick() and gc.collected == 1
    clock.now += 5
    assert not idle.tick() and gc.collected == 1  # the next one 20 s after this one


async def test_keys_pressed_in_the_app_put_the_pass_off(tmp_path):
    from tests.support.frozen import frozen_app
    from tests.tui.test_flows import SIZE, _settle

    app = frozen_app(tmp_path)
    clock = Clock()
    app.collector = IdleCollector(every=0, quiet=1, clock=clock, collector=FakeGc())
    async with app.run_test(size=SIZE) as pilot:
        await _settle(app, pilot)
        app.collector.freeze()
        await pilot.press("j")
        assert not app.collector.tick()  # the key counted as typing
        clock.now += 2
        assert app.collector.tick()
