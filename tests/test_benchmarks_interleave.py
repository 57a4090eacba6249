"""The benchmarks' timing helper: interleaved order, per-round ratios that survive a changing load."""

from __future__ import annotations

import pytest

from benchmarks import interleave
from benchmarks.interleave import interleaved, ratio


class Clock:
    """A fake perf_counter: each peer call costs its work times the machine's load at that moment."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def spend(self, work: float) -> None:
        load = 1.0 + self.now / 10.0  # the machine gets slower and slower (another job ramping up)
        self.now += work * load


def test_rounds_alternate_direction(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    interleaved({n: (lambda n=n: seen.append(n)) for n in "ABC"}, rounds=3)
    assert "".join(seen) == "ABCCBAABC"


def test_a_ramping_load_leaves_the_interleaved_ratio_unbiased(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr(interleave.time, "perf_counter", clock)
    same = {"raw": lambda: clock.spend(1.0), "ours": lambda: clock.spend(1.0)}  # identical code
    times = interleaved(same, rounds=8)
    r = ratio(times, "ours", "raw")
    assert r.n == 4 and abs(r.median - 1.0) < 0.02 and abs(r.high - r.low) < 0.03  # pairs of rounds: A B B A
    rounds = [t_ours / t_raw for t_raw, t_ours in zip(times["raw"], times["ours"], strict=True)]
    assert max(rounds) - min(rounds) > 0.1  # one round alone would not do: who runs second pays the ramp
    # back to back (all of raw, then all of ours), the same code looks much slower: the bias removed
    back = {"raw": [], "ours": []}  # type: ignore[var-annotated]
    for name in ("raw", "ours"):
        for _ in range(7):
            t = clock()
            same[name]()
            back[name].append(clock() - t)
    assert min(back["raw"]) / min(back["ours"]) < 0.8
    planted = {"raw": lambda: clock.spend(1.0), "half": lambda: clock.spend(0.5)}  # twice as fast
    assert ratio(interleaved(planted, rounds=6), "half", "raw").median == pytest.approx(2.0, rel=0.02)
    assert ratio(interleaved(planted, rounds=6), "half", "raw", speed=False).median == pytest.approx(0.5, rel=0.02)
