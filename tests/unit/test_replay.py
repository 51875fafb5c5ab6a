from bot.replay import ReplayGuard


def test_second_sighting_within_the_window_is_a_replay() -> None:
    now = [0.0]
    guard = ReplayGuard(window=300, clock=lambda: now[0])
    assert guard.first_time("v0=a")
    assert not guard.first_time("v0=a")
    assert guard.first_time("v0=b")
    now[0] = 301
    assert guard.first_time("v0=a")  # outside the window the timestamp check refuses it anyway


def test_memory_is_bounded() -> None:
    guard = ReplayGuard(max_entries=3, clock=lambda: 0.0)
    for sig in "abcd":
        assert guard.first_time(sig)
    assert guard.first_time("a")  # evicted oldest
