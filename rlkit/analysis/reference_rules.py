"""The rules that place rlkit runs against published Atari-100k results, stated in :data:`RULES` (and in
``report.md``): percentile within a published run distribution, inside its central 90%, the DER comparison,
the aggregates, and the Atari-100k protocol check.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from rlkit.analysis.plots import CENTRAL_WHISKERS
from rlkit.analysis.run import Run

ATARI100K_STEPS = 100_000  # agent steps (Kaiser et al. 2020)
ATARI100K_FRAMES = 400_000  # = steps x frame skip 4
CENTRAL = CENTRAL_WHISKERS  # percentiles bounding the central 90% of a published distribution
DER_SE_WIDTH = 2.0  # the DER span is widened by this many standard errors of the rlkit mean

RULES: dict[str, str] = {
    "percentile": ("Percentile of an rlkit run: the share of the published runs of its game that score below it, "
                   "ties counted half: 100 · (#below + #equal / 2) / #runs. Inside the central 90%: the published 5th "
                   "percentile ≤ score ≤ the published 95th percentile (numpy's linear interpolation; the whiskers of "
                   "the plot). Were rlkit's runs drawn from the published distribution, about 90% of them would lie "
                   "inside."),
    "der": (f"DER: the two published per-game means span [low, high]; the rlkit per-game mean is *within* when "
            f"low ≤ mean ≤ high, *near* when outside it but inside the span widened by {DER_SE_WIDTH:g} standard "
            "errors of the rlkit mean (sample std / √runs) on each side, else *below* or *above*. With one run there "
            "is no standard error: within, below or above."),
    "aggregates": ("Aggregates: human-normalised scores over the compared games that every variant ran; rlkit per "
                   "variant with the same number of runs per game (its lowest seeds), published runs restricted to "
                   "the same games, both with stratified-bootstrap CIs (Agarwal et al. 2021). DER has per-game "
                   "means only: median and mean as point estimates without CIs; IQM and optimality gap need "
                   "per-run scores and are left out."),
    "protocol": (f"Atari 100k: {ATARI100K_STEPS:,} agent steps = {ATARI100K_FRAMES:,} frames (frame skip 4), no "
                 "sticky actions. Runs that differ are listed with a warning and compared all the same."),
}


def percentile_of_score(score: float, distribution: Sequence[float] | np.ndarray) -> float:
    """Percentile rank of ``score`` in ``distribution``: ``100 * (#below + #equal / 2) / n``."""
    values = np.asarray(distribution, dtype=np.float64)
    if values.size == 0:
        raise ValueError("percentile_of_score needs a non-empty distribution")
    below = np.count_nonzero(values < score)
    equal = np.count_nonzero(values == score)
    return float(100.0 * (below + 0.5 * equal) / values.size)


def central_interval(distribution: Sequence[float] | np.ndarray) -> dict[str, float]:
    """``{"p5", "median", "p95"}`` of ``distribution`` (numpy's linear interpolation)."""
    p5, median, p95 = np.percentile(np.asarray(distribution, dtype=np.float64), [CENTRAL[0], 50.0, CENTRAL[1]])
    return {"p5": float(p5), "median": float(median), "p95": float(p95)}


def der_verdict(mean: float, se: float | None, published: Iterable[float]) -> dict[str, Any]:
    """The DER rule (:data:`RULES`): ``{"low", "high", "widened_low", "widened_high", "verdict"}``."""
    values = list(published)
    low, high = min(values), max(values)
    pad = DER_SE_WIDTH * se if se is not None else 0.0
    if low <= mean <= high:
        verdict = "within"
    elif low - pad <= mean <= high + pad:
        verdict = "near"
    else:
        verdict = "below" if mean < low else "above"
    return {"low": low, "high": high, "widened_low": low - pad, "widened_high": high + pad, "verdict": verdict}


def protocol_issues(run: Run) -> list[str]:
    """How ``run`` departs from Atari 100k: its agent steps (``summary.json``, else ``train.steps``), frames
    (``summary.json``, else steps x ``env.frame_skip``) and sticky actions; ``[]`` when it does not."""
    env = run.config.get("env") if isinstance(run.config.get("env"), dict) else {}
    train = run.config.get("train") if isinstance(run.config.get("train"), dict) else {}
    steps = next((v for v in (run.summary.get("steps"), train.get("steps")) if _integer(v)), None)
    frames = run.summary.get("frames")
    if not _integer(frames):
        frames = steps * env["frame_skip"] if steps is not None and _integer(env.get("frame_skip")) else None
    issues = []
    if steps is None:
        issues.append("agent steps unknown (no `steps` in summary.json, no `train.steps` in config.yaml)")
    elif steps != ATARI100K_STEPS or (frames is not None and frames != ATARI100K_FRAMES):
        shown = "frames unknown" if frames is None else f"{frames:,} frames"
        issues.append(f"{steps:,} agent steps = {shown}, not {ATARI100K_STEPS:,} = {ATARI100K_FRAMES:,}")
    sticky = env.get("sticky_action_prob")
    if isinstance(sticky, (int, float)) and not isinstance(sticky, bool) and sticky > 0:
        issues.append(f"sticky actions (p = {sticky:g}); the published runs used none")
    return issues


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
