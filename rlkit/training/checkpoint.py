"""Crash-safe checkpoints that load without executing code.

Layout of one checkpoint, ``<run_dir>/checkpoints/step_<012d step>/``:

* ``state.json``: every plain value (counters, schedule positions, RNG states, logger states, the
  wandb run id, the config fields that must match on resume), with NumPy arrays replaced by
  references to ``arrays/<name>.npy`` and torch tensors by references into ``tensors.pt``;
* ``arrays/*.npy``: NumPy arrays (replay contents, n-step windows, priorities, env states), written
  straight from the live arrays (no second copy in memory) and read back memory-mapped;
* ``tensors.pt``: torch tensors and the agent (networks, optimiser), loaded with
  ``torch.load(weights_only=True)``.

Nothing is ever unpickled: ``np.load(allow_pickle=False)``, ``torch.load(weights_only=True)`` and
JSON. A checkpoint is written into a hidden temporary directory next to the others, every file is
flushed and fsynced, and the directory is renamed into place: a crash or ``kill -9`` at any moment
leaves the previous checkpoint as it was, plus at worst a ``.tmp`` directory that the next save or
load removes.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlkit.utils.files import fsync_dir

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
CHECKPOINT_DIR = "checkpoints"
_NAME = re.compile(r"^step_(\d+)$")
_TMP_PREFIX = ".tmp_"
_ARRAY, _TENSOR, _TUPLE, _FLOAT = "__npy__", "__tensor__", "__tuple__", "__float__"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used: missing, damaged, unsafe, or made by an incompatible run."""


@dataclass(frozen=True)
class CheckpointInfo:
    path: Path
    step: int


# --------------------------------------------------------------------------------- discovery
def checkpoint_root(run_dir: Path) -> Path:
    return Path(run_dir) / CHECKPOINT_DIR


def list_checkpoints(run_dir: Path) -> list[CheckpointInfo]:
    """Complete checkpoints of a run, oldest first (temporary directories are never listed)."""
    root = checkpoint_root(run_dir)
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        match = _NAME.match(child.name)
        if match and child.is_dir() and (child / "state.json").is_file():
            found.append(CheckpointInfo(child, int(match.group(1))))
    return sorted(found, key=lambda info: info.step)


def latest_checkpoint(run_dir: Path) -> CheckpointInfo | None:
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def find_checkpoint(path: Path) -> CheckpointInfo:
    """The checkpoint a path names: a checkpoint dir, or a run dir (its latest checkpoint)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path} does not exist")
    match = _NAME.match(path.name)
    if match and (path / "state.json").is_file():
        return CheckpointInfo(path, int(match.group(1)))
    latest = latest_checkpoint(path)
    if latest is None:
        raise CheckpointError(
            f"no checkpoint in {path} (looked for {checkpoint_root(path)}/step_*/state.json; a run writes one every "
            "checkpoint.every agent steps and when a signal stops it)")
    return latest


def run_dir_of(checkpoint: Path) -> Path:
    """The run directory holding ``checkpoint`` (``<run_dir>/checkpoints/step_N``)."""
    return Path(checkpoint).parent.parent


def remove_checkpoints(run_dir: Path) -> int:
    """Delete every checkpoint of a run (a finished run keeps ``model.pt``); returns how many."""
    found = list_checkpoints(run_dir)
    for info in found:
        shutil.rmtree(info.path, ignore_errors=True)
    remove_partial(run_dir)
    root = checkpoint_root(run_dir)
    if root.is_dir() and not any(root.iterdir()):
        root.rmdir()
    return len(found)


def remove_partial(run_dir: Path) -> None:
    """Delete temporary directories left by a save that was killed."""
    root = checkpoint_root(run_dir)
    if root.is_dir():
        for child in root.iterdir():
            if child.name.startswith(_TMP_PREFIX):
                log.warning("removing an unfinished checkpoint left by a killed save: %s", child)
                shutil.rmtree(child, ignore_errors=True)


# ---------------------------------------------------------------------------------- writing
def save_checkpoint(run_dir: Path, step: int, state: Mapping[str, Any], *, keep_last: int = 2) -> Path:
    """Write ``state`` as checkpoint ``step`` atomically; keep the newest ``keep_last`` (0: all)."""
    root = checkpoint_root(run_dir)
    root.mkdir(parents=True, exist_ok=True)
    remove_partial(run_dir)
    final = root / f"step_{int(step):012d}"
    tmp = root / f"{_TMP_PREFIX}{final.name}_{os.getpid()}"
    (tmp / "arrays").mkdir(parents=True)
    try:
        writer = _TreeWriter(tmp)
        tree = writer.encode(dict(state), "")
        with (tmp / "tensors.pt").open("wb") as f:
            torch.save(writer.tensors, f)
            _sync(f)
        body = {"format": FORMAT_VERSION, "step": int(step), "state": tree}
        with (tmp / "state.json").open("w", encoding="utf-8") as f:
            json.dump(body, f, indent=1, allow_nan=False)
            _sync(f)
        fsync_dir(tmp / "arrays")
        fsync_dir(tmp)
        if final.exists():  # the same step saved again (e.g. a signal right after a periodic save)
            shutil.rmtree(final)
        os.replace(tmp, final)
        fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if keep_last > 0:
        for old in list_checkpoints(run_dir)[:-keep_last]:
            shutil.rmtree(old.path, ignore_errors=True)
    return final


def _sync(f: Any) -> None:
    f.flush()
    os.fsync(f.fileno())


class _TreeWriter:
    """Splits a nested state into JSON, ``.npy`` files and one dict of tensors."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.tensors: dict[str, Any] = {}

    def encode(self, value: Any, path: str) -> Any:
        if path == "/torch":  # the agent's networks and optimiser (int keys and all) go to tensors.pt whole
            self.tensors[path] = value
            return {_TENSOR: path}
        if isinstance(value, Mapping):
            out = {}
            for key, item in value.items():
                if not isinstance(key, str):
                    raise TypeError(f"checkpoint key {path}/{key!r} is not a string; put such objects under 'torch'")
                out[key] = self.encode(item, f"{path}/{key}")
            return out
        if isinstance(value, np.ndarray):
            if value.dtype.hasobject:
                raise TypeError(f"checkpoint array {path} has dtype object, which cannot be saved without pickle")
            name = _array_name(path)
            with (self.directory / "arrays" / f"{name}.npy").open("wb") as f:
                np.save(f, value, allow_pickle=False)  # streams from the live array: no copy of it
                _sync(f)
            return {_ARRAY: name}
        if isinstance(value, torch.Tensor):
            self.tensors[path] = value
            return {_TENSOR: path}
        if isinstance(value, tuple):
            return {_TUPLE: [self.encode(v, f"{path}/{i}") for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [self.encode(v, f"{path}/{i}") for i, v in enumerate(value)]
        if isinstance(value, np.generic):
            return self.encode(value.item(), path)
        if isinstance(value, float) and not math.isfinite(value):
            return {_FLOAT: repr(value)}
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        raise TypeError(f"cannot checkpoint {path} of type {type(value).__name__}")


def _array_name(path: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", path.strip("/").replace("/", "."))


# ---------------------------------------------------------------------------------- reading
def load_checkpoint(path: Path, *, mmap: bool = True) -> dict[str, Any]:
    """The state saved at ``path`` (a checkpoint dir); arrays are memory-mapped read-only by default.

    Never runs code from the files: a pickle payload anywhere makes this raise
    :class:`CheckpointError` before it is executed.
    """
    path = Path(path)
    try:
        body = json.loads((path / "state.json").read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise CheckpointError(f"{path} is not a checkpoint: no state.json") from err
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path}/state.json is damaged: {err}") from err
    if body.get("format") != FORMAT_VERSION:
        raise CheckpointError(f"{path} has checkpoint format {body.get('format')!r}; this rlkit reads {FORMAT_VERSION}")
    tensors = load_tensor_file(path / "tensors.pt")
    reader = _TreeReader(path / "arrays", tensors, mmap=mmap)
    return reader.decode(body["state"])


def load_agent_state(path: Path) -> dict[str, Any]:
    """Only the agent's state (networks, optimiser) of checkpoint ``path``, loaded safely."""
    file = Path(path) / "tensors.pt"
    tensors = load_tensor_file(file)
    try:
        return tensors["/torch"]["agent"]
    except (KeyError, TypeError) as err:
        raise CheckpointError(f"{file} holds no agent state") from err


def load_tensor_file(file: Path) -> Any:
    """``torch.load(file, weights_only=True)`` on the CPU; anything else than tensors and plain
    containers (a pickle payload) is refused with :class:`CheckpointError` before it runs."""
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except FileNotFoundError as err:
        raise CheckpointError(f"{file.parent} is incomplete: no {file.name}") from err
    except Exception as err:  # weights_only refuses anything but tensors and plain containers
        first_line = str(err).splitlines()[0] if str(err) else ""
        raise CheckpointError(
            f"refusing to load {file}: it is not a plain tensor file (torch.load with weights_only=True rejected "
            f"it: {type(err).__name__}: {first_line}). It may have been tampered with; rlkit never unpickles "
            "arbitrary objects"
        ) from err


class _TreeReader:
    def __init__(self, arrays: Path, tensors: Mapping[str, Any], *, mmap: bool) -> None:
        self.arrays = arrays
        self.tensors = tensors
        self.mmap = mmap

    def decode(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.decode(v) for v in value]
        if not isinstance(value, dict):
            return value
        if _ARRAY in value:
            file = self.arrays / f"{value[_ARRAY]}.npy"
            try:
                return np.load(file, mmap_mode="r" if self.mmap else None, allow_pickle=False)
            except ValueError as err:  # object arrays need pickle
                raise CheckpointError(f"refusing to load {file}: {err}") from err
            except OSError as err:
                raise CheckpointError(f"cannot read {file}: {err}") from err
        if _TENSOR in value:
            try:
                return self.tensors[value[_TENSOR]]
            except KeyError as err:
                raise CheckpointError(f"tensors.pt lacks {value[_TENSOR]!r}") from err
        if _TUPLE in value:
            return tuple(self.decode(v) for v in value[_TUPLE])
        if _FLOAT in value:
            return float(value[_FLOAT])
        return {k: self.decode(v) for k, v in value.items()}


# ----------------------------------------------------------------------------- compatibility
def check_compatible(saved: Mapping[str, Any], current: Mapping[str, Any], *, source: Path) -> None:
    """Raise :class:`CheckpointError` naming every field where the checkpoint's run and this one differ."""
    problems = [
        f"  {key}: checkpoint has {saved.get(key)!r}, this run has {current.get(key)!r}"
        for key in sorted(set(saved) | set(current))
        if _normalise(saved.get(key)) != _normalise(current.get(key))
    ]
    if problems:
        raise CheckpointError(
            f"checkpoint {source} was made by an incompatible run:\n" + "\n".join(problems) + "\n"
            "Resume with the run's own settings (its config.yaml), or start a new run directory "
            "(resume=never trains from scratch in place)."
        )


def _normalise(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_normalise(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _normalise(v) for k, v in value.items()}
    return value
