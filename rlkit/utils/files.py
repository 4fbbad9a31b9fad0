"""Crash-safe file writes: a reader never sees a half-written file."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def atomic_write(path: Path, write: Callable[[Any], None], *, binary: bool = False) -> None:
    """Write via ``write(fileobj)`` to a temp file in the same directory, fsync, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual mode
        with os.fdopen(fd, "wb" if binary else "w") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write_json(path: Path, data: Any) -> None:
    """Strict JSON (NaN and infinities become null), written atomically."""
    clean = _finite_or_none(data)
    atomic_write(path, lambda f: json.dump(clean, f, indent=2, sort_keys=True, default=_json_default, allow_nan=False))


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def fsync_dir(directory: Path) -> None:
    """Persist a directory entry change (a rename or new file) where the OS supports it."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def truncate_metrics(path: Path, last_step: int) -> int:
    """Drop the records of a JSON-lines metrics file logged after ``last_step``; returns how many.

    A run resumed from a checkpoint at ``last_step`` logs the later steps again, so the file keeps
    one record per step. A half-written last line is dropped too. The rewrite is atomic.
    """
    path = Path(path)
    if not path.is_file():
        return 0
    kept, dropped = [], 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            step = json.loads(line).get("step")
        except (json.JSONDecodeError, AttributeError):
            dropped += 1
            continue
        if isinstance(step, int) and step > last_step:
            dropped += 1
        else:
            kept.append(line)
    if dropped:
        atomic_write(path, lambda f: f.write("".join(line + "\n" for line in kept)))
    return dropped
