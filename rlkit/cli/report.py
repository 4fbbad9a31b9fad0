"""``rlkit-report``: a study report (tables, IQM and other aggregates with CIs, plots) from run directories."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from rlkit.analysis.runs import RunsError
from rlkit.analysis.stats import DEFAULT_REPS


def _return_range(text: str) -> tuple[str, tuple[float, float]]:
    from rlkit.analysis.report import parse_return_range

    try:
        return parse_return_range(text)
    except RunsError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _references(text: str) -> tuple[str, ...]:
    from rlkit.analysis.reference import parse_references

    try:
        return parse_references([text])
    except RunsError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rlkit-report",
        description="Report over finished runs: per-task scores, mean/median/IQM/optimality gap with stratified-"
        "bootstrap CIs (Agarwal et al. 2021), probability of improvement, learning curves, performance profiles.",
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                        help="sweep directories (searched recursively) or run directories")
    parser.add_argument("--out", type=Path, default=None, help="output directory (default: <first PATH>/report)")
    parser.add_argument("--baseline", default=None,
                        help="variant to compare against (default: 'full' if present, else the first alphabetically)")
    parser.add_argument("--reps", type=int, default=DEFAULT_REPS, help=f"bootstrap resamples (default {DEFAULT_REPS})")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument("--gap-threshold", type=float, default=None,
                        help="optimality-gap threshold for raw-return tasks (default: gymnasium reward_threshold)")
    parser.add_argument("--metric", choices=("final", "best"), default="final",
                        help="score of a run: its final evaluation or its best evaluation (default final)")
    parser.add_argument("--return-range", type=_return_range, action="append", default=[], metavar="[TASK=]LO,HI",
                        help="possible return range that learning curves are clipped to, for every task or for TASK "
                        "(repeatable; default: derived for CartPole, Acrobot and MountainCar, else no clipping); "
                        "write a negative LO as --return-range=-500,0")
    parser.add_argument("--reference", type=_references, action="append", default=[], metavar="NAME[,NAME...]",
                        help="compare the Atari-100k runs with published results: drq_eps, spr (100 runs per game, "
                        "Agarwal et al. 2021), der (DER per-game means); the MinAtar runs with published learning "
                        "curves: revisiting_rainbow (DQN and Rainbow, Obando-Ceron & Castro 2021); repeatable or "
                        "comma-separated")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, write the report, print where it is; exit status 2 with a message on bad input."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="rlkit-report: %(levelname)s: %(message)s")
    from rlkit.analysis.report import ReportOptions, write_report

    out = args.out if args.out is not None else args.paths[0] / "report"
    options = ReportOptions(baseline=args.baseline, reps=args.reps, seed=args.seed,
                            gap_threshold=args.gap_threshold, metric=args.metric,
                            return_ranges=dict(args.return_range),
                            references=tuple(dict.fromkeys(name for names in args.reference for name in names)))
    try:
        report = write_report(args.paths, out, options)
    except RunsError as exc:
        print(f"rlkit-report: error: {exc}", file=sys.stderr)
        return 2
    print(f"{len(report['runs'])} runs, {len(report['variants'])} variants, baseline {report['baseline']}: "
          f"{out / 'report.md'}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
