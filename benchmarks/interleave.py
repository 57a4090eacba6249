"""Timing peers fairly on a noisy machine: interleaved rounds, per-round ratios, their median and spread.

A load that changes while the peers run (another job starting, a thermal limit) hits whichever
peer runs at that moment. Run back to back (A A A B B B), one peer gets the quiet minutes and the
other the busy ones, and the ratio of their best times measures the machine, not the code. Here
every round runs each peer once (A B C, then C B A, so that none is always first), a ratio is
taken within each pair of rounds (A B C C B A: a load that drifts linearly costs every peer the
same), and what is reported is the median of those ratios with their range over the pairs.

    times = interleaved({"raw": raw, "ours": ours}, rounds=5)
    print(*ratio_lines(times, baseline="raw"), sep="\\n")

:class:`Workers` does the same for peers that must each live in a process of their own (peak
RSS per peer): each worker loads its peer once and runs it on request, in the same interleaved order.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


def interleaved(peers: Mapping[str, Callable[[], Any]], rounds: int,
                sync: Callable[[], None] = lambda: None) -> dict[str, list[float]]:
    """Seconds of each peer in each round; round r runs the peers forward when r is even, backward when odd."""
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    times: dict[str, list[float]] = {name: [] for name in peers}
    for r in range(rounds):
        for name in _order(list(peers), r):
            sync()
            start = time.perf_counter()
            peers[name]()
            sync()
            times[name].append(time.perf_counter() - start)
    return times


def _order(names: list[str], r: int) -> list[str]:
    return names if r % 2 == 0 else names[::-1]


@dataclass(frozen=True)
class Ratio:
    """A peer's ratio against the baseline: median and range over ``n`` pairs of rounds."""

    median: float
    low: float
    high: float
    n: int

    def __str__(self) -> str:
        return f"{self.median:.3f} [{self.low:.3f}-{self.high:.3f}]"


def ratio(times: Mapping[str, Sequence[float]], peer: str, baseline: str, *, speed: bool = True) -> Ratio:
    """The peer against the baseline over each pair of rounds (A B .. B A: a load that drifts linearly
    costs both the same), median and range over the pairs; ``speed``: baseline seconds / peer seconds
    (above 1: the peer is faster), else the inverse (the peer's cost relative to the baseline).
    An odd last round is left out; a single round is its own pair."""
    b, p = list(times[baseline]), list(times[peer])
    if len(b) != len(p):
        raise ValueError(f"{peer} has {len(p)} rounds, {baseline} {len(b)}")
    spans = [slice(k, k + 2) for k in range(0, len(b) - 1, 2)] or [slice(0, 1)]
    values = [sum(b[s]) / sum(p[s]) if speed else sum(p[s]) / sum(b[s]) for s in spans]
    return Ratio(statistics.median(values), min(values), max(values), len(values))


def ratio_lines(times: Mapping[str, Sequence[float]], baseline: str, *, work: float | None = None,
                unit: str = "tok/s", speed: bool = True) -> list[str]:
    """A table: each peer's median seconds (and ``work`` per second), its ratio to ``baseline`` with the range."""
    what = f"x {baseline}" if speed else f"cost / {baseline}"
    lines = [f"{'peer':<12}{'median s':>10}{'min s':>9}{'max s':>9}" + (f"{unit:>12}" if work else "")
             + f"  {what} median [range] over {ratio(times, baseline, baseline).n} pairs of interleaved rounds"]
    for name, ts in times.items():
        med = statistics.median(ts)
        rate = f"{work / med:>12.1f}" if work else ""
        lines.append(f"{name:<12}{med:>10.3f}{min(ts):>9.3f}{max(ts):>9.3f}{rate}  {ratio(times, name, baseline, speed=speed)}")
    return lines


class Workers:
    """One subprocess per peer, each started as ``argv + [name]``, which must print one JSON line when ready,
    then, for every ``run`` line read on stdin, run its peer once and print ``{"seconds": ...}``; on ``quit``
    it prints its final JSON line (e.g. peak RSS) and exits."""

    def __init__(self, names: Iterable[str], argv: Callable[[str], list[str]]) -> None:
        self.procs: dict[str, subprocess.Popen[str]] = {}
        self.ready: dict[str, dict[str, Any]] = {}
        for name in names:
            proc = subprocess.Popen(argv(name), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
            self.procs[name] = proc
            self.ready[name] = self._read(name)

    def _read(self, name: str) -> dict[str, Any]:
        proc = self.procs[name]
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"peer {name} exited (status {proc.wait()}); run it alone to see why")
        return dict(json.loads(line))

    def call(self, name: str, command: str = "run") -> dict[str, Any]:
        proc = self.procs[name]
        assert proc.stdin is not None
        proc.stdin.write(command + "\n")
        proc.stdin.flush()
        return self._read(name)

    def rounds(self, rounds: int) -> dict[str, list[float]]:
        """Seconds per peer per round, as each worker timed itself, in :func:`interleaved` order."""
        times: dict[str, list[float]] = {name: [] for name in self.procs}
        for r in range(rounds):
            for name in _order(list(self.procs), r):
                times[name].append(float(self.call(name)["seconds"]))
        return times

    def close(self) -> dict[str, dict[str, Any]]:
        """Each worker's final line."""
        final = {name: self.call(name, "quit") for name in self.procs}
        for proc in self.procs.values():
            proc.wait(timeout=60)
        return final


def serve(work: Callable[[], Any], ready: Mapping[str, Any], final: Callable[[], Mapping[str, Any]],
          sync: Callable[[], None] = lambda: None) -> None:
    """The worker side of :class:`Workers`: announce ``ready``, time ``work`` per ``run``, answer ``quit``."""
    import sys

    print(json.dumps(dict(ready)), flush=True)
    for line in sys.stdin:
        if line.strip() == "quit":
            print(json.dumps(dict(final())), flush=True)
            return
        sync()
        start = time.perf_counter()
        work()
        sync()
        print(json.dumps({"seconds": time.perf_counter() - start}), flush=True)
