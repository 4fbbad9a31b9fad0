"""Append-only JSON-lines metrics file: the run's durable, tool-independent record.

Format: one object per line, ``{"step": <agent steps>, "time": <seconds>, "<metric>": <float>, ...}``.

* ``time`` is wall-clock seconds of training since the run first started; a resumed run restores
  the offset through :meth:`JsonlLogger.load_state_dict`, so it keeps increasing across resumes.
* Non-finite values (NaN, +inf, -inf) are written as ``null`` so the file is strict JSON;
  :func:`read_metrics` reads ``null`` back as ``float("nan")``.
* Every line is flushed when written (a crashed process loses at most the line being written; an
  OS crash may lose what the OS had not yet written to disk). The file is opened in append mode, so
  a resumed run continues it; step values may then repeat, since the resumed run re-does the steps
  after its last checkpoint.
"""

from __future__ import annotations

import gzip
import json
import logging
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rlkit.logging.base import Logger, as_float
from rlkit.registry import register

_log = logging.getLogger(__name__)

RESERVED_KEYS = ("step", "time")


@register("logger", "jsonl")
class JsonlLogger(Logger):
    """Writes one JSON object per :meth:`log` call to ``run_dir / filename``."""

    def __init__(self, *, run_dir: Path, filename: str = "metrics.jsonl") -> None:
        self.path = Path(run_dir) / filename
        self.path.parent.mkdir(parents=True, exist_ok=True)
        needs_newline = _ends_without_newline(self.path)
        # buffering=1: line-buffered text mode, each "\n" flushes to the OS.
        self._file = self.path.open("a", buffering=1, encoding="utf-8")
        if needs_newline:  # isolate a line a crashed writer left half-written
            self._file.write("\n")
        self._start = time.monotonic()
        self._elapsed_offset = 0.0

    def elapsed(self) -> float:
        """Seconds of training time, including earlier runs this one resumes."""
        return self._elapsed_offset + time.monotonic() - self._start

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        if self._file.closed:
            raise RuntimeError(f"JsonlLogger for {self.path} is closed")
        record: dict[str, Any] = {"step": int(step), "time": round(self.elapsed(), 3)}
        for key, value in metrics.items():
            if key in RESERVED_KEYS:
                raise ValueError(f"metric name '{key}' is reserved in {self.path.name}")
            number = as_float(key, value)
            record[key] = number if math.isfinite(number) else None
        self._file.write(json.dumps(record, allow_nan=False) + "\n")

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def state_dict(self) -> dict[str, Any]:
        return {"elapsed": self.elapsed()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if "elapsed" in state:
            self._elapsed_offset = float(state["elapsed"])
            self._start = time.monotonic()


def read_metrics(path: Path | str) -> list[dict[str, Any]]:
    """All records of a metrics file, in file order; ``null`` values become ``float("nan")``.

    A file whose name ends in ``.gz`` is read through gzip (archived runs keep ``metrics.jsonl.gz``).
    A truncated last line (a writer killed mid-line) is skipped silently; other undecodable lines
    are skipped with a warning.
    """
    path = Path(path)
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    lines = raw.decode("utf-8", errors="replace").splitlines()
    records: list[dict[str, Any]] = []
    bad: list[int] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number != len(lines):
                bad.append(number)
            continue
        if not isinstance(record, dict):
            bad.append(number)
            continue
        records.append({k: (math.nan if v is None else v) for k, v in record.items()})
    if bad:
        _log.warning("%s: skipped %d undecodable line(s): %s", path, len(bad), bad[:10])
    return records


def _ends_without_newline(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            f.seek(0, 2)
            if f.tell() == 0:
                return False
            f.seek(-1, 2)
            return f.read(1) != b"\n"
    except FileNotFoundError:
        return False
