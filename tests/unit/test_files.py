from __future__ import annotations

import json
import math
import os

import pytest

from rlkit.utils.files import atomic_write, atomic_write_json


def test_json_is_strict_and_atomic(tmp_path):
    path = tmp_path / "summary.json"
    atomic_write_json(path, {"mean": math.nan, "best": -math.inf, "ok": 1.5, "runs": [math.inf, 2.0]})
    data = json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert data == {"mean": None, "best": None, "ok": 1.5, "runs": [None, 2.0]}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]  # no temp file left behind


def test_failed_write_keeps_the_previous_file_and_usual_mode(tmp_path):
    path = tmp_path / "config.yaml"
    atomic_write(path, lambda f: f.write("old"))
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~_umask())

    def boom(f):
        f.write("half")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        atomic_write(path, boom)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["config.yaml"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
