"""The published Atari-100k results that ``rlkit-report --reference`` compares with, and how to read them.

Published data (raw final game scores after 100K agent steps = 400K frames, no sticky actions), shipped
in ``data/atari100k/`` with its sources in ``data/atari100k/SOURCE.md``:

* ``drq_eps``: DrQ(ε) (Yarats et al. 2021, with the ε-greedy settings of Agarwal et al. 2021) and
  ``spr``: SPR (Schwarzer et al. 2021, "Data-Efficient Reinforcement Learning with Self-Predictive
  Representations"), 100 runs per game each, from the data released with Agarwal et al. 2021, "Deep
  Reinforcement Learning at the Edge of the Statistical Precipice" (NeurIPS).
* ``der``: data-efficient Rainbow per-game means: van Hasselt et al. 2019 (as tabulated by Schwarzer
  et al. 2021) and the re-run analysed by Agarwal et al. 2021 (as tabulated by Schwarzer et al. 2023).

Published learning curves (:data:`CURVE_REFERENCES`, compared by :mod:`rlkit.analysis.curve_reference`), in
``data/minatar/`` with ``data/minatar/SOURCE.md``:

* ``revisiting_rainbow``: DQN's and Rainbow's mean training return per 1M-step iteration on MinAtar's five games,
  Obando-Ceron & Castro 2021 ("Revisiting Rainbow", ICML), read off their figure.
"""

from __future__ import annotations

import csv
import functools
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Literal

import numpy as np

from rlkit.analysis.hns import atari57_games
from rlkit.analysis.run import RunsError
from rlkit.utils.atari_games import canonical_game

DATA_DIR = "atari100k"
DER_COLUMNS = {"der_2019": "DER (van Hasselt et al. 2019)", "der_rerun_100_runs": "DER re-run (Agarwal et al. 2021)"}


@dataclass(frozen=True)
class Reference:
    """One published result: ``kind`` "runs" (per-run final scores) or "means" (per-game means)."""

    name: str
    label: str
    kind: Literal["runs", "means"]
    file: str
    source: str


REFERENCES: dict[str, Reference] = {ref.name: ref for ref in (
    Reference("drq_eps", "DrQ(ε)", "runs", "drq_eps_runs.csv",
              "DrQ(ε), Yarats et al. 2021 with the settings of Agarwal et al. 2021; 100 runs per game released with "
              "Agarwal et al. 2021"),
    Reference("spr", "SPR", "runs", "spr_runs.csv",
              "SPR, Schwarzer et al. 2021; 100 runs per game released with Agarwal et al. 2021"),
    Reference("der", "DER", "means", "der_game_means.csv",
              "data-efficient Rainbow per-game means: van Hasselt et al. 2019 (as tabulated by Schwarzer et al. 2021) "
              "and the re-run analysed by Agarwal et al. 2021 (as tabulated by Schwarzer et al. 2023)"),
)}


@dataclass(frozen=True)
class CurveReference:
    """Published learning curves: per game and agent, the mean training return of each iteration of
    ``iteration_steps`` agent steps, for runs of rlkit's env ``env`` with the settings in ``protocol``."""

    name: str
    label: str
    directory: str  # under rlkit/analysis/data/
    file: str
    env: str  # rlkit's env.name of the runs it applies to
    iteration_steps: int
    source: str
    protocol: Mapping[str, object] = field(default_factory=dict)  # env.<key>: the published runs' value


CURVE_REFERENCES: dict[str, CurveReference] = {ref.name: ref for ref in (
    CurveReference("revisiting_rainbow", "Revisiting Rainbow (MinAtar)", "minatar",
                   "revisiting_rainbow_training_returns.csv", env="minatar", iteration_steps=1_000_000,
                   source="DQN and Rainbow, Obando-Ceron & Castro 2021 (Revisiting Rainbow, ICML): mean training return "
                   "per 1M-step iteration, read off their MinAtar figure (data/minatar/SOURCE.md)",
                   protocol={"sticky_action_prob": 0.1, "difficulty_ramping": True, "minimal_action_set": False}),
)}


class ReferenceError(RunsError):
    """An unknown reference name; the message lists the valid ones."""


def _unknown(name: str) -> ReferenceError:
    return ReferenceError(f"unknown reference {name!r}; valid names: "
                          f"{', '.join(sorted({*REFERENCES, *CURVE_REFERENCES}))}")


def _rows(file: str, directory: str = DATA_DIR) -> list[dict[str, str]]:
    text = resources.files("rlkit.analysis").joinpath("data", directory, file).read_text()
    return list(csv.DictReader(line for line in text.splitlines() if line.strip()))


def _game(name: str) -> str:
    """ale-py's id of a game as the published files spell it (``KungFuMaster`` -> ``kung_fu_master``)."""
    return canonical_game(name, atari57_games(), source="Atari-57 games with human/random scores")


@functools.cache
def published_runs(name: str) -> dict[str, np.ndarray]:
    """``game -> final scores`` (raw, in run order, read-only) of a "runs" reference (``drq_eps``, ``spr``)."""
    ref = reference(name)
    if ref.kind != "runs":
        raise ValueError(f"{name} has per-game means, not runs")
    by_game: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for row in _rows(ref.file):
        by_game[_game(row["game"])].append((int(row["run"]), float(row["score"])))
    out = {}
    for game, runs in sorted(by_game.items()):
        scores = np.array([score for _, score in sorted(runs)], dtype=np.float64)
        scores.setflags(write=False)
        out[game] = scores
    return out


@functools.cache
def published_means() -> dict[str, dict[str, float]]:
    """``game -> {"der_2019": mean, "der_rerun_100_runs": mean}``: DER's published per-game mean scores."""
    return {_game(row["game"]): {col: float(row[col]) for col in DER_COLUMNS} for row in _rows(REFERENCES["der"].file)}


@functools.cache
def published_curves(name: str) -> dict[tuple[str, str], dict[int, tuple[float, str]]]:
    """``(game, agent) -> {iteration: (mean training return, how it was read)}`` of a curve reference."""
    ref = curve_reference(name)
    out: dict[tuple[str, str], dict[int, tuple[float, str]]] = defaultdict(dict)
    for row in _rows(ref.file, ref.directory):
        out[(row["game"], row["agent"])][int(row["iteration"])] = (float(row["mean_training_return"]), row["read"])
    return dict(out)


def reference(name: str) -> Reference:
    """The Atari-100k reference called ``name``; :class:`ReferenceError` lists the valid names."""
    if name not in REFERENCES:
        raise _unknown(name)
    return REFERENCES[name]


def curve_reference(name: str) -> CurveReference:
    """The learning-curve reference called ``name``; :class:`ReferenceError` lists the valid names."""
    if name not in CURVE_REFERENCES:
        raise _unknown(name)
    return CURVE_REFERENCES[name]


def reference_games(name: str) -> list[str]:
    """The games (ale-py ids, sorted) of a reference."""
    return sorted(published_runs(name) if reference(name).kind == "runs" else published_means())


def parse_references(values: Iterable[str]) -> tuple[str, ...]:
    """Names from repeated and/or comma-separated values, deduplicated in order; unknown ones raise
    :class:`ReferenceError`."""
    names: list[str] = []
    for value in values:
        for part in str(value).split(","):
            part = part.strip()
            if part and part not in REFERENCES and part not in CURVE_REFERENCES:
                raise _unknown(part)
            if part and part not in names:
                names.append(part)
    return tuple(names)
