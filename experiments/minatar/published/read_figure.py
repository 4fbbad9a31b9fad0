"""Read DQN's and Rainbow's curves off Revisiting Rainbow's MinAtar figure, by pixel colour.

The figure (Obando-Ceron & Castro 2021, ICML; mean training return per 1M-step iteration, 10 iterations;
top row: components added to DQN, bottom row: removed from Rainbow; DQN and Rainbow are in both rows) is
``content/posts/research/rl/revisiting_rainbow/revisitingMinatar.png`` (2276 x 844 px) in the repository
github.com/psc-g/psc-g.github.io (the second author's site, where the paper's figures are published).
Get it with ``git show HEAD:<that path> > revisitingMinatar.png`` in a clone, then:

    python experiments/minatar/published/read_figure.py revisitingMinatar.png

It prints ``game,agent,iteration,mean_training_return,read`` rows: where the agent's marker colour is found at an
iteration's column in one or both rows of panels (the mean of both), ``read=pixel``; where only a looser match
finds it (a marker partly covered by another curve's), ``read=pixel_partial``. Points hidden under other
curves are not readable this way; those the study needs were read by eye from an enlarged crop and are listed in
``EYE`` (``read=eye``, about ±0.3). The axis calibration below comes from the centres of the tick labels.
``rlkit/analysis/data/minatar/revisiting_rainbow_training_returns.csv`` is this script's output.
"""

from __future__ import annotations

import sys

import numpy as np
from PIL import Image

COLOURS = {"dqn": (231, 121, 138), "rainbow": (197, 146, 69)}  # seaborn husl: the two most frequent shades
GAMES = ["asterix", "breakout", "freeway", "seaquest", "space_invaders"]
# per game: x of iteration 0 (pixels); per (game, row): two (y pixel, value) pairs from tick-label centres
X0 = {"asterix": 109.5, "breakout": 556.5, "freeway": 1003.5, "seaquest": 1450.5, "space_invaders": 1897.5}
DX = 37.5  # pixels per iteration (tick labels 0 and 2 are 75 px apart)
Y_CAL = {
    ("asterix", 0): (359.5, 0, 92, 40), ("breakout", 0): (313, 4, 59, 12), ("freeway", 0): (362, 0, 65.5, 60),
    ("seaquest", 0): (358, 0, 62.5, 14), ("space_invaders", 0): (333, 20, 84.5, 90),
    ("asterix", 1): (743.5, 0, 453, 50), ("breakout", 1): (706.5, 4, 439.5, 14), ("freeway", 1): (726, 20, 447, 60),
    ("seaquest", 1): (740, 0, 448.5, 35), ("space_invaders", 1): (721, 20, 456, 100),
}
ROWS = {0: (40, 372), 1: (425, 752)}  # pixel rows of the two rows of panels
# Freeway's legend box: from iteration 3 on, below this value (per row of panels) are legend entries, not data
LEGEND = {("freeway", 0): (3, 52.0), ("freeway", 1): (3, 52.0)}
TOLERANCE = 30.0  # RGB distance of a marker pixel to the agent's colour
MAX_EXTENT = 14  # pixels: matches spread wider than a marker are two objects (ambiguous): no read
EYE = {("seaquest", "dqn", 0): 0.8, ("seaquest", "dqn", 1): 4.0, ("seaquest", "dqn", 2): 4.9,
       ("seaquest", "rainbow", 1): 4.1, ("seaquest", "rainbow", 2): 5.0}


def read(image: np.ndarray, game: str, row: int, agent: str, iteration: int, *, tolerance: float,
         half_width: int) -> float | None:
    """The value at ``iteration`` of ``agent``'s curve in panel (``game``, ``row``), or None when not found."""
    y_a, v_a, y_b, v_b = Y_CAL[(game, row)]
    slope = (v_b - v_a) / (y_b - y_a)  # value per pixel row
    top, bottom = ROWS[row]
    first, below = LEGEND.get((game, row), (10, 0.0))
    if iteration >= first:
        bottom = int(y_a + (below - v_a) / slope)
    x = round(X0[game] + iteration * DX)
    window = image[top:bottom, x - half_width:x + half_width + 1]
    ys = np.nonzero(np.sqrt(((window - np.array(COLOURS[agent])) ** 2).sum(2)) < tolerance)[0]
    if len(ys) < 3 or ys.max() - ys.min() > MAX_EXTENT:
        return None
    return v_a + (float(np.median(ys)) + top - y_a) * slope


def main(path: str) -> None:
    image = np.asarray(Image.open(path).convert("RGB")).astype(int)
    print("game,agent,iteration,mean_training_return,read")
    for game in GAMES:
        for agent in COLOURS:
            for iteration in range(10):
                if (game, agent, iteration) in EYE:
                    print(f"{game},{agent},{iteration},{EYE[game, agent, iteration]:.1f},eye")
                    continue
                reads = [read(image, game, row, agent, iteration, tolerance=TOLERANCE, half_width=1) for row in ROWS]
                reads = [v for v in reads if v is not None]
                if not reads:  # a looser match: a marker partly covered by another curve's
                    reads = [v for v in (read(image, game, row, agent, iteration, tolerance=45.0, half_width=3)
                                         for row in ROWS) if v is not None]
                    kind = "pixel_partial"
                else:
                    kind = "pixel"
                if reads:
                    print(f"{game},{agent},{iteration},{np.mean(reads):.1f},{kind}")


if __name__ == "__main__":
    main(sys.argv[1])
