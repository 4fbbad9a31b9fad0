"""Human-normalised Atari scores: ``(score - random) / (human - random)`` per game.

Random and human reference scores: ``data/atari57_random_human.csv`` (DQN Zoo / Agent57 table;
see ``data/SOURCE.md``). Game names follow ale-py's ROM ids and accept the same spellings as
``env.game`` (``"pong"``, ``"Pong"``, ``"ALE/MsPacman-v5"``, ``"MsPacmanNoFrameskip-v4"``).
"""

from __future__ import annotations

import csv
import functools
from importlib import resources

from rlkit.utils.atari_games import canonical_game

DATA_FILE = "atari57_random_human.csv"


@functools.cache
def reference_scores() -> dict[str, tuple[float, float]]:
    """``game -> (random, human)`` for the Atari-57 games."""
    text = resources.files("rlkit.analysis").joinpath("data", DATA_FILE).read_text()
    rows = csv.DictReader(line for line in text.splitlines() if line.strip() and not line.startswith("#"))
    return {row["game"]: (float(row["random"]), float(row["human"])) for row in rows}


def atari57_games() -> list[str]:
    """The 57 games with reference scores (ale-py ROM ids, sorted)."""
    return sorted(reference_scores())


def human_normalized_score(game: str, score: float) -> float:
    """``(score - random) / (human - random)`` for ``game``; 0 = random play, 1 = the human tester.

    Raises :class:`rlkit.utils.atari_games.UnknownGameError` (a ``ValueError``) listing the closest
    names when ``game`` is not one of the 57 games of the table.
    """
    table = reference_scores()
    name = canonical_game(game, table, source="Atari-57 games with human/random scores")
    random, human = table[name]
    return (float(score) - random) / (human - random)
