"""rlkit.analysis.stats: hand-computed values for every statistic, bootstrap properties, and rliable agreement."""

from __future__ import annotations

import numpy as np
import pytest

from rlkit.analysis import stats


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# ----------------------------------------------------------------------------- point metrics
def test_iqm_is_the_25_percent_trimmed_mean_over_all_runs_and_tasks():
    values = [10.0, 1.0, 2.0, 100.0, 3.0, 4.0, 5.0, -50.0]  # sorted: -50 1 2 3 4 5 10 100 -> keep 2 3 4 5
    assert stats.iqm(np.array(values).reshape(8, 1)) == pytest.approx(3.5)
    assert stats.iqm(np.array(values).reshape(4, 2)) == pytest.approx(3.5)  # pooled over runs x tasks
    # n = 5: floor(5 / 4) = 1 score cut at each end -> mean(2, 3, 4)
    assert stats.iqm(np.array([[1.0], [2.0], [3.0], [4.0], [1000.0]])) == pytest.approx(3.0)
    # n = 3: nothing cut
    assert stats.iqm(np.array([[1.0, 2.0, 9.0]])) == pytest.approx(4.0)


def test_mean_and_median_are_over_per_task_means():
    scores = np.array([[1.0, 10.0, 0.0], [3.0, 20.0, 4.0]])  # task means: 2, 15, 2
    assert stats.mean_score(scores) == pytest.approx(19 / 3)
    assert stats.median_score(scores) == pytest.approx(2.0)
    batch = np.stack([scores, scores + 1.0])  # [2, runs, tasks] -> [2]
    np.testing.assert_allclose(stats.median_score(batch), [2.0, 3.0])
    np.testing.assert_allclose(stats.iqm(batch), [stats.iqm(scores), stats.iqm(scores) + 1.0])


def test_optimality_gap_is_mean_shortfall_below_gamma():
    scores = np.array([[0.5, 1.5], [-0.2, 1.0]])
    assert stats.optimality_gap(scores) == pytest.approx((0.5 + 0.0 + 1.2 + 0.0) / 4)
    assert stats.optimality_gap(scores, gamma=2.0) == pytest.approx((1.5 + 0.5 + 2.2 + 1.0) / 4)
    assert stats.optimality_gap(scores, gamma=-1.0) == 0.0


def test_probability_of_improvement_counts_ties_as_half():
    x = np.array([[4.0, 0.0], [3.0, 0.0], [3.0, 0.0]])  # task 0: 4 3 3; task 1: 0 0 0
    y = np.array([[2.0, 1.0], [3.0, 0.0]])  # task 0: 2 3; task 1: 1 0
    # task 0: 4>2, 4>3, 3>2, 3=3 (1/2), 3>2, 3=3 (1/2) -> 5/6; task 1: three ties with 0 out of 6 pairs -> 1/4
    np.testing.assert_allclose(stats.per_task_probability_of_improvement(x, y), [5 / 6, 1 / 4])
    assert stats.probability_of_improvement(x, y) == pytest.approx((5 / 6 + 1 / 4) / 2)
    # P(X > Y) + P(Y > X) = 1 per task when ties count one half
    np.testing.assert_allclose(stats.per_task_probability_of_improvement(y, x), [1 / 6, 3 / 4])
    assert stats.probability_of_improvement(x, x) == pytest.approx(0.5)


def test_probability_of_improvement_equals_mann_whitney_u():
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = _rng(3)
    x = rng.integers(0, 5, size=(6, 4)).astype(float)  # small integers: many ties
    y = rng.integers(0, 5, size=(4, 4)).astype(float)
    expected = [scipy_stats.mannwhitneyu(x[:, t], y[:, t], alternative="greater").statistic / 24 for t in range(4)]
    np.testing.assert_allclose(stats.per_task_probability_of_improvement(x, y), expected, atol=1e-12)


def test_performance_profile_is_fraction_of_scores_strictly_above_tau():
    scores = np.array([[0.1, 0.5], [0.9, 0.5]])
    np.testing.assert_allclose(stats.performance_profile(scores, np.array([0.0, 0.1, 0.5, 0.95])),
                               [1.0, 0.75, 0.25, 0.0])


# ----------------------------------------------------------------------------- bootstrap
def test_stratified_resample_keeps_each_tasks_runs_within_the_task():
    runs, tasks = 4, 3
    scores = 100.0 * np.arange(tasks)[None, :] + np.arange(runs)[:, None]  # column t holds 100 t + run
    draws = stats.stratified_resample(scores, 500, _rng())
    assert draws.shape == (500, runs, tasks)  # every resample has `runs` runs for every task
    for t in range(tasks):
        assert set(np.unique(draws[:, :, t])) <= set(scores[:, t])
    rows = draws - 100.0 * np.arange(tasks)  # the drawn run index of every entry
    assert not np.all(rows[:, :, 0] == rows[:, :, 1])  # tasks are resampled independently
    assert set(np.unique(rows)) == set(range(runs))  # with replacement: every run drawn somewhere
    assert any(len(set(rows[r, :, 0])) < runs for r in range(500))  # and repeats within a resample


def test_percentile_interval_matches_the_hand_computed_bootstrap_distribution():
    # Two runs [0, 1], one task: the resampled mean is 0, 1/2, 1 with probability 1/4, 1/2, 1/4.
    scores = np.array([[0.0], [1.0]])
    wide = stats.bootstrap_interval(stats.mean_score, [scores], reps=4000, rng=_rng())
    assert (float(wide.point), float(wide.lower), float(wide.upper)) == (0.5, 0.0, 1.0)
    # a 40% interval spans the 30th..70th percentiles, both inside the middle atom of mass 1/2
    narrow = stats.bootstrap_interval(stats.mean_score, [scores], reps=4000, rng=_rng(), confidence=0.4)
    assert (float(narrow.lower), float(narrow.upper)) == (0.5, 0.5)


def test_interval_contains_point_and_shrinks_with_more_runs():
    rng = _rng(1)
    few = rng.normal(1.0, 0.5, size=(5, 6))
    many = rng.normal(1.0, 0.5, size=(80, 6))
    widths = {}
    for name, scores in (("few", few), ("many", many)):
        est = stats.aggregate_intervals(scores, gamma=1.0, reps=1000, rng=_rng(2))
        for metric, e in est.items():
            assert e["lower"] <= e["point"] <= e["upper"], (name, metric)
        widths[name] = {m: e["upper"] - e["lower"] for m, e in est.items()}
        assert est["mean"]["point"] == pytest.approx(scores.mean())
    for metric in ("median", "iqm", "mean", "optimality_gap"):
        assert widths["many"][metric] < 0.5 * widths["few"][metric], metric
    constant = stats.aggregate_intervals(np.full((4, 3), 0.7), reps=200, rng=_rng())
    assert constant["iqm"] == pytest.approx({"point": 0.7, "lower": 0.7, "upper": 0.7})
    assert constant["optimality_gap"]["upper"] == pytest.approx(0.3)


def test_bootstrap_is_deterministic_given_the_generator_and_chunking_is_invisible():
    scores = _rng(5).normal(size=(7, 5))
    a = stats.aggregate_intervals(scores, reps=300, rng=_rng(9))
    b = stats.aggregate_intervals(scores, reps=300, rng=_rng(9))
    c = stats.aggregate_intervals(scores, reps=300, rng=_rng(10))
    assert a == b and a != c
    assert "optimality_gap" not in stats.aggregate_intervals(scores, gamma=None, reps=10, rng=_rng())
    # a statistic over a batch of resamples equals the statistic of each resample alone
    draws = stats.stratified_resample(scores, 20, _rng())
    np.testing.assert_allclose(stats.iqm(draws), [stats.iqm(d) for d in draws])
    np.testing.assert_allclose(stats.performance_profile(draws, np.array([0.0, 1.0])),
                               [stats.performance_profile(d, np.array([0.0, 1.0])) for d in draws])


def test_probability_of_improvement_and_profile_intervals():
    rng = _rng(4)
    better, worse = rng.normal(2.0, 1.0, size=(10, 5)), rng.normal(0.0, 1.0, size=(8, 5))
    est = stats.probability_of_improvement_interval(better, worse, reps=500, rng=_rng())
    assert float(est.point) == pytest.approx(stats.probability_of_improvement(better, worse))
    assert 0.5 < est.lower <= est.point <= est.upper <= 1.0
    taus = np.linspace(-3, 5, 9)
    band = stats.performance_profile_interval(better, taus, reps=300, rng=_rng())
    np.testing.assert_allclose(band.point, stats.performance_profile(better, taus))
    assert np.all(band.lower <= band.point) and np.all(band.point <= band.upper)
    assert np.all(np.diff(band.point) <= 0)  # profiles never increase with tau
    curves = rng.normal(size=(4, 6))
    curve = stats.mean_curve_interval(curves, reps=200, rng=_rng())
    np.testing.assert_allclose(curve.point, curves.mean(axis=0))


def test_bad_input_errors_name_the_argument():
    with pytest.raises(ValueError, match="reps must be a positive integer"):
        stats.aggregate_intervals(np.ones((2, 2)), reps=0, rng=_rng())
    with pytest.raises(ValueError, match=r"2-D \[runs, tasks\]"):
        stats.aggregate_intervals(np.ones(3), rng=_rng())
    with pytest.raises(ValueError, match="NaN or infinite"):
        stats.aggregate_intervals(np.array([[1.0, np.nan]]), rng=_rng())
    with pytest.raises(ValueError, match="number of tasks"):
        stats.probability_of_improvement_interval(np.ones((3, 2)), np.ones((3, 4)), rng=_rng())
    with pytest.raises(ValueError, match="confidence"):
        stats.aggregate_intervals(np.ones((2, 2)), rng=_rng(), confidence=95)


# ----------------------------------------------------------------------------- rliable
def test_agrees_with_rliable_on_the_same_data():
    pytest.importorskip("rliable")
    from rliable import library as rly
    from rliable import metrics as rlm

    rs = np.random.RandomState(0)
    x = rs.normal(1.0, 0.5, size=(5, 8))
    y = rs.normal(0.8, 0.5, size=(6, 8))
    reps = 2000

    # point estimates: identical definitions
    assert stats.mean_score(x) == pytest.approx(rlm.aggregate_mean(x), abs=1e-9)
    assert stats.median_score(x) == pytest.approx(rlm.aggregate_median(x), abs=1e-9)
    assert stats.iqm(x) == pytest.approx(rlm.aggregate_iqm(x), abs=1e-9)
    assert stats.iqm(x[:, :7]) == pytest.approx(rlm.aggregate_iqm(x[:, :7]), abs=1e-9)  # 35 scores: uneven cut
    assert stats.optimality_gap(x, 1.2) == pytest.approx(rlm.aggregate_optimality_gap(x, 1.2), abs=1e-9)
    assert stats.probability_of_improvement(x, y) == pytest.approx(rlm.probability_of_improvement(x, y), abs=1e-9)
    ties = np.round(x * 2) / 2, np.round(y * 2) / 2
    assert stats.probability_of_improvement(*ties) == pytest.approx(rlm.probability_of_improvement(*ties), abs=1e-9)

    def close(ours: stats.Interval | dict, theirs: np.ndarray) -> None:
        lower, upper = (ours["lower"], ours["upper"]) if isinstance(ours, dict) else (ours.lower, ours.upper)
        width = theirs[1] - theirs[0]
        np.testing.assert_allclose(lower, theirs[0], atol=0.1 * np.max(width))
        np.testing.assert_allclose(upper, theirs[1], atol=0.1 * np.max(width))

    # aggregate CIs: rliable's StratifiedBootstrap (global NumPy seed) vs ours; draws differ, intervals agree
    np.random.seed(1)
    funcs = {"median": rlm.aggregate_median, "iqm": rlm.aggregate_iqm, "mean": rlm.aggregate_mean,
             "optimality_gap": rlm.aggregate_optimality_gap}
    points, cis = rly.get_interval_estimates({"x": x}, lambda s: np.array([f(s) for f in funcs.values()]), reps=reps)
    ours = stats.aggregate_intervals(x, gamma=1.0, reps=reps, rng=_rng())
    for i, name in enumerate(funcs):
        assert ours[name]["point"] == pytest.approx(points["x"][i], abs=1e-9)
        close(ours[name], cis["x"][:, i])

    # probability of improvement: rliable's independent stratified bootstrap of (x, y); its scipy-based
    # metric is slow per resample, so the resamples are scored with ours (point estimates agree above)
    np.random.seed(2)
    _, cis = rly.get_interval_estimates(
        {"xy": [x, y]}, lambda a, b: np.array([stats.probability_of_improvement(a, b)]), reps=reps)
    close(stats.probability_of_improvement_interval(x, y, reps=reps, rng=_rng()), cis["xy"][:, 0])

    # performance profiles
    taus = np.linspace(0.0, 2.0, 11)
    np.random.seed(3)
    profiles, bands = rly.create_performance_profile({"x": x}, taus, reps=reps)
    band = stats.performance_profile_interval(x, taus, reps=reps, rng=_rng())
    np.testing.assert_allclose(band.point, profiles["x"], atol=1e-12)
    np.testing.assert_allclose(band.lower, bands["x"][0], atol=2 / x.size)
    np.testing.assert_allclose(band.upper, bands["x"][1], atol=2 / x.size)
