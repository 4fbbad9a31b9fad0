"""The published Atari-100k results that ``rlkit-report --reference`` compares with, and how to read them.

Published data (raw final game scores after 100K agent steps = 400K frames, no sticky actions), shipped
in ``data/atari100k/`` with its sources in ``data/atari100k/SOURCE.md``:

* ``drq_eps``: DrQ(ε) (Yarats et al. 2021, with the ε-greedy settings of Agarwal et al. 2021) and
  ``spr``: SPR (Schwarzer et al. 2021, "Data-Efficient Reinforcement Learning with Self-Predictive
  Representations"), 100 runs per game each, from the data released with Agarwal et al. 2021, "Deep
  Reinforcement Learning at the Edge of the Statistical Precipice" (NeurIPS).
* ``der``: data-efficient Rainbow per-game means: van Hasselt et al. 2019 (as tabulated by Schwarzer
  et al. 2021) and the re-run analysed by Agarwal et al. 2021 (as tabulated by Schwarzer et al. 2023).
"""

from __future__ import annotations

import csv
import functools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
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


class ReferenceError(RunsError):
    """An unknown reference name; the message lists the valid ones."""


def _rows(file: str) -> list[dict[str, str]]:
    text = resources.files("rlkit.analysis").joinpath("data", DATA_DIR, file).read_text()
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


def reference(name: str) -> Reference:
    """The reference called ``name``; :class:`ReferenceError` lists the valid names."""
    if name not in REFERENCES:
        raise ReferenceError(f"unknown reference {name!r}; valid names: {', '.join(sorted(REFERENCES))}")
    return REFERENCES[name]


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
            if part and reference(part).name not in names:
                names.append(part)
    return tuple(names)
