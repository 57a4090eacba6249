"""Convergence between organisms, validated on planted truth: shared vs independent fine-tuning shifts."""

from __future__ import annotations

import numpy as np
import pytest

from interp.sharpening import CONVERGENCE_COLUMNS, CheckpointActs, convergence_table

D, PAIRS = 24, 150


def _e(k: int) -> np.ndarray:
    v = np.zeros(D)
    v[k] = 1.0
    return v


def _organisms(seed: int, shift: float = 1.5) -> dict[str, CheckpointActs]:
    """A base whose class difference lies along e0; organisms a and b both add a shift along e1 (one
    fine-tuning effect), c adds an equal shift along e2 (an unrelated one)."""
    rng = np.random.default_rng(seed)
    z = np.repeat(rng.standard_normal((PAIRS, D)) * 2.0, 2, axis=0)
    y = np.tile([0, 1], PAIRS)
    groups = np.repeat(np.arange(PAIRS), 2).astype(str)

    def acts(direction: np.ndarray) -> CheckpointActs:
        X = z + rng.standard_normal(z.shape) * 0.5 + y[:, None] * direction[None, :]
        return CheckpointActs.from_arrays({"blocks.0.hook_resid_post": X, "blocks.1.hook_resid_post": X[:, ::-1]},
                                          y, groups)

    base = 3.0 * _e(0)
    return {"base": acts(base), "a": acts(base + shift * _e(1)), "b": acts(base + shift * _e(1)),
            "c": acts(base + shift * _e(2))}


def _value(table, a: str, b: str, metric: str, hook: str = "blocks.0.hook_resid_post"):  # type: ignore[no-untyped-def]
    row = table[(table["a"] == a) & (table["b"] == b) & (table["metric"] == metric) & (table["hook"] == hook)]
    assert len(row) == 1, (a, b, metric)
    return row.iloc[0]


def test_shared_shift_converges_and_an_unrelated_one_does_not() -> None:
    table = convergence_table(_organisms(0), base="base", n_boot=200, seed=0)
    assert list(table.columns) == CONVERGENCE_COLUMNS
    assert set(table["metric"]) == {"cosine", "shift_cosine", "transfer_auroc", "cosine_to_base"}
    same, other = _value(table, "a", "b", "shift_cosine"), _value(table, "a", "c", "shift_cosine")
    assert same["value"] > 0.8 and same["ci_low"] > 0.5 and same["p"] < 0.05  # both moved the direction along e1
    assert abs(other["value"]) < 0.35 and other["ci_low"] < 0 < other["ci_high"]  # e1 vs e2: unrelated moves
    # inheritance: every organism's direction stays close to the base's, so the plain cosines are all high
    assert _value(table, "a", "b", "cosine")["value"] > 0.95
    assert _value(table, "a", "c", "cosine")["value"] == pytest.approx(9 / (9 + 1.5**2), abs=0.08)
    assert _value(table, "a", "base", "cosine_to_base")["value"] == pytest.approx(3 / np.hypot(3, 1.5), abs=0.08)
    # a's direction separates b's and c's examples, in both directions of transfer
    for a, b in (("a", "b"), ("b", "a"), ("a", "c"), ("c", "a")):
        assert _value(table, a, b, "transfer_auroc")["value"] > 0.75  # own cross-fitted AUROC here: ~0.85
    assert table["p_adj"].notna().sum() == table["p"].notna().sum()


def test_without_base_and_bad_input() -> None:
    orgs = _organisms(1)
    table = convergence_table({k: v for k, v in orgs.items() if k != "base"}, base=None, n_boot=50)
    assert set(table["metric"]) == {"cosine", "transfer_auroc"}
    assert len(table[table["metric"] == "cosine"]) == 3 * 2  # 3 pairs x 2 hooks
    with pytest.raises(ValueError, match="at least two organisms"):
        convergence_table({"base": orgs["base"], "a": orgs["a"]})
    shuffled = CheckpointActs(orgs["b"].acts, orgs["b"].y[::-1].copy(), orgs["b"].groups, orgs["b"].ids)
    with pytest.raises(ValueError, match="not captured on the same examples"):
        convergence_table({"a": orgs["a"], "b": shuffled})


def test_shift_cosine_without_any_shift_is_centred_on_zero() -> None:
    """No organism moved the direction: on the same examples the two estimated shifts share the base's
    sampling error and correlate; estimated on disjoint halves they do not, and the interval covers 0."""
    from interp.sharpening.convergence import shift_cosine
    from interp.sharpening.metrics import cosine, mean_difference

    hook = "blocks.0.hook_resid_post"
    covered, values, naive = 0, [], []
    for seed in range(20):
        orgs = _organisms(seed, shift=0.0)
        Xa, Xb, X0, y = orgs["a"].acts[hook], orgs["b"].acts[hook], orgs["base"].acts[hook], orgs["a"].y
        est = shift_cosine(Xa, Xb, X0, y, orgs["a"].groups, n_boot=100, seed=seed)
        covered += est.ci_low <= 0 <= est.ci_high
        values.append(est.value)
        d0 = mean_difference(X0, y)
        naive.append(cosine(mean_difference(Xa, y) - d0, mean_difference(Xb, y) - d0))
    assert np.mean(naive) > 0.3  # the bias the split removes
    assert abs(np.mean(values)) < 0.06 and covered >= 17  # nominal 95%: 19 of 20 expected
