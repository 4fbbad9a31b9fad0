"""Console progress: a live rich progress bar on a terminal, rate-limited plain lines otherwise.

On a terminal the bar shows agent steps / total, SPS, the latest training and evaluation returns,
elapsed time and ETA. When the output is not a terminal (CI, SLURM log files) or the bar is turned
off, the same figures are printed as one plain, timestamped line at most every ``log_interval_s``
seconds, so a week-long job writes a few thousand lines, not one per step.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Iterable, Mapping
from datetime import datetime

from rich.console import Console, RenderableType
from rich.progress import BarColumn, Progress, TaskID, TextColumn
from rich.table import Column
from rich.text import Text

from rlkit.logging.base import Logger, RunStatus, as_float
from rlkit.registry import register

SPS_KEY = "charts/SPS"
TRAIN_RETURN_KEY = "charts/episodic_return"
EVAL_RETURN_KEY = "eval/episodic_return"


def _clock() -> float:
    """Monotonic seconds (a module function so tests can substitute it)."""
    return time.monotonic()


def format_duration(seconds: float | None) -> str:
    """``H:MM:SS``, with a ``Nd`` prefix past a day; ``-`` when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "-"
    total = int(seconds)
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{days}d {clock}" if days else clock


def _fmt(value: float | None, spec: str) -> str:
    if value is None:
        return "-"
    return format(value, spec) if math.isfinite(value) else str(value)


class _StatsProgress(Progress):
    """A progress bar with one line of run statistics under each task.

    Line 1: label, bar, agent steps / total; line 2: SPS, returns, elapsed (live), ETA.
    Task fields: ``steps``, ``sps``, ``ret``, ``eval``, ``eta`` (preformatted), ``t0`` (clock start).
    """

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        for task in self.tasks:
            f = task.fields
            line = (
                f"SPS {f['sps']} | return {f['ret']} | eval {f['eval']} | "
                f"elapsed {format_duration(_clock() - f['t0'])} | ETA {f['eta']}"
            )
            yield Text(line, no_wrap=True, overflow="ellipsis")


@register("logger", "console")
class ConsoleLogger(Logger):
    """Training progress on the console.

    Args:
        total_steps: Agent steps the run will take (run-time value); 0 if unknown.
        run_name: Shown as the bar's label (run-time value).
        refresh_per_second: Redraw rate of the live bar.
        show_progress: False prints plain lines even on a terminal.
        log_interval_s: Minimum seconds between plain lines.
        console: Where to write (tests, embedding); defaults to stdout. Not a config key.
    """

    def __init__(
        self,
        *,
        total_steps: int,
        run_name: str = "train",
        refresh_per_second: float = 2.0,
        show_progress: bool = True,
        log_interval_s: float = 60.0,
        console: Console | None = None,
    ) -> None:
        if total_steps < 0:
            raise ValueError(f"total_steps must be >= 0, got {total_steps}")
        if refresh_per_second <= 0:
            raise ValueError(f"refresh_per_second must be > 0, got {refresh_per_second}")
        self.total_steps = int(total_steps)
        self.run_name = run_name
        self.log_interval_s = float(log_interval_s)
        self.console = console if console is not None else Console()
        self.live = show_progress and self.console.is_terminal
        self._refresh_per_second = refresh_per_second
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._closed = False
        self._end: tuple[RunStatus, str] | None = None
        self._moved_handlers: list[tuple[logging.StreamHandler, object]] = []

        self._start = _clock()
        self._first: tuple[int, float] | None = None  # (step, time) of the first log call
        self._last_line: float | None = None
        self.step = 0
        self.sps: float | None = None
        self.train_return: float | None = None
        self.eval_return: float | None = None

    # -- figures ---------------------------------------------------------------------------------

    def measured_sps(self) -> float | None:
        """Agent steps per second since the first log call of this process."""
        if self._first is None:
            return None
        step0, t0 = self._first
        dt = _clock() - t0
        return (self.step - step0) / dt if dt > 0 and self.step > step0 else None

    def eta(self) -> float | None:
        """Seconds until ``total_steps`` at the measured rate; None when unknown."""
        rate = self.measured_sps() or self.sps
        if not self.total_steps or not rate or rate <= 0 or not math.isfinite(rate):
            return None
        return max(self.total_steps - self.step, 0) / rate

    def summary(self, *, final: bool = False) -> str:
        """One plain line with every figure the bar shows (no ETA when ``final``)."""
        if self.total_steps:
            pct = 100.0 * self.step / self.total_steps
            steps = f"step {self.step:,}/{self.total_steps:,} ({pct:.1f}%)"
        else:
            steps = f"step {self.step:,}"
        sps = self.sps if self.sps is not None else self.measured_sps()
        parts = [
            steps,
            f"SPS {_fmt(sps, '.0f')}",
            f"return {_fmt(self.train_return, '.2f')}",
            f"eval {_fmt(self.eval_return, '.2f')}",
            f"elapsed {format_duration(_clock() - self._start)}",
        ]
        return " | ".join(parts if final else [*parts, f"ETA {format_duration(self.eta())}"])

    # -- Logger ----------------------------------------------------------------------------------

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        if self._closed:
            return
        now = _clock()
        self.step = int(step)
        if self._first is None:
            self._first = (self.step, now)
        if SPS_KEY in metrics:
            self.sps = as_float(SPS_KEY, metrics[SPS_KEY])
        if TRAIN_RETURN_KEY in metrics:
            self.train_return = as_float(TRAIN_RETURN_KEY, metrics[TRAIN_RETURN_KEY])
        if EVAL_RETURN_KEY in metrics:
            self.eval_return = as_float(EVAL_RETURN_KEY, metrics[EVAL_RETURN_KEY])

        if self.live:
            self._update_bar()
        elif self._last_line is None or now - self._last_line >= self.log_interval_s:
            self._last_line = now
            self._print_line(self.summary())

    def end_run(self, status: RunStatus, step: int, detail: str = "") -> None:
        self.step = int(step)
        self._end = (status, detail)

    def close(self) -> None:
        """Stop the live bar and print a final line that says how the run ended."""
        if self._closed:
            return
        self._closed = True
        if self._progress is not None:
            self._update_bar()
            self._progress.stop()
            self._restore_log_handlers()
        if self._end is None:
            outcome = "closed"
        else:
            status, detail = self._end
            outcome = f"{status} ({detail})" if detail else status
        self._print_line(f"{self.run_name} {outcome}: {self.summary(final=True)}")

    # -- output ----------------------------------------------------------------------------------

    def _print_line(self, line: str) -> None:
        stamp = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        self.console.print(f"{stamp} {line}", soft_wrap=True, markup=False, highlight=False)

    def _move_log_handlers(self) -> None:
        """Send console log handlers through the live display's stdout/stderr, so that log lines
        print above the bar instead of into it (rich redirects ``sys.stdout``/``sys.stderr`` while
        the bar is live, but a handler keeps the stream it was given)."""
        originals = {id(sys.__stdout__): sys.stdout, id(sys.__stderr__): sys.stderr}
        for logger in (logging.getLogger(), *(lg for lg in logging.root.manager.loggerDict.values()
                                              if isinstance(lg, logging.Logger))):
            for handler in logger.handlers:
                if type(handler) is logging.StreamHandler and id(handler.stream) in originals:
                    proxy = originals[id(handler.stream)]
                    if proxy is not handler.stream:
                        self._moved_handlers.append((handler, handler.stream))
                        handler.setStream(proxy)

    def _restore_log_handlers(self) -> None:
        for handler, stream in self._moved_handlers:
            handler.setStream(stream)  # type: ignore[arg-type]
        self._moved_handlers.clear()

    def _update_bar(self) -> None:
        if self._progress is None:
            self._progress = _StatsProgress(
                TextColumn(
                    "{task.description}",
                    style="bold",
                    markup=False,  # run names may contain "[...]"
                    table_column=Column(no_wrap=True, overflow="ellipsis", max_width=40),
                ),
                BarColumn(bar_width=40),
                TextColumn("{task.fields[steps]}", table_column=Column(no_wrap=True)),
                console=self.console,
                refresh_per_second=self._refresh_per_second,
            )
            self._task = self._progress.add_task(
                self.run_name,
                total=self.total_steps or None,
                steps="",
                sps="-",
                ret="-",
                eval="-",
                eta="-",
                t0=self._start,
            )
            self._progress.start()
            self._move_log_handlers()
        assert self._task is not None
        sps = self.sps if self.sps is not None else self.measured_sps()
        if self.total_steps:
            pct = 100.0 * self.step / self.total_steps
            steps = f"{self.step:,}/{self.total_steps:,} steps ({pct:.1f}%)"
        else:
            steps = f"{self.step:,} steps"
        self._progress.update(
            self._task,
            completed=self.step,
            steps=steps,
            sps=_fmt(sps, ".0f"),
            ret=_fmt(self.train_return, ".2f"),
            eval=_fmt(self.eval_return, ".2f"),
            eta=format_duration(self.eta()),
        )
