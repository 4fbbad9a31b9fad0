"""Packaging: the wheel carries conf/ as rlkit.conf and the package data, and builds without warnings."""

from __future__ import annotations

import importlib.resources
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE_DATA = ["rlkit/analysis/data/atari57_random_human.csv", "rlkit/analysis/data/SOURCE.md",
                "rlkit/analysis/data/atari100k/SOURCE.md", "rlkit/analysis/data/atari100k/drq_eps_runs.csv",
                "rlkit/analysis/data/atari100k/spr_runs.csv", "rlkit/analysis/data/atari100k/der_game_means.csv",
                "rlkit/analysis/data/minatar/SOURCE.md",
                "rlkit/analysis/data/minatar/revisiting_rainbow_training_returns.csv"]


def build_wheel(dist: Path, *, source: Path = REPO) -> tuple[Path, str]:
    """Build rlkit's wheel into ``dist`` from a clean copy of ``source``; returns (wheel, build output).

    The copy keeps setuptools' in-tree ``build/`` and ``*.egg-info`` (stale files included) out of it.
    """
    tree = dist.parent / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist")
    for name in ("rlkit", "conf"):
        shutil.copytree(source / name, tree / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(source / name, tree / name)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "--disable-pip-version-check", "-w", str(dist), str(tree)],
                          check=False, capture_output=True, text=True, cwd=dist.parent, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return next(dist.glob("rlkit-*.whl")), proc.stdout + proc.stderr


def conf_yamls() -> set[str]:
    """Every YAML under conf/, as its path relative to conf/."""
    return {p.relative_to(REPO / "conf").as_posix() for p in (REPO / "conf").rglob("*.yaml")}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> tuple[Path, str]:
    return build_wheel(tmp_path_factory.mktemp("wheel") / "dist")


def test_wheel_ships_every_conf_yaml_and_the_package_data(wheel):
    names = set(zipfile.ZipFile(wheel[0]).namelist())
    expected = conf_yamls()
    assert len(expected) > 50 and any("/" in name for name in expected)  # group folders, nested ones too
    assert {f"rlkit/conf/{name}" for name in expected} <= names
    assert set(PACKAGE_DATA) <= names
    assert not [n for n in names if n.startswith("conf/")], "conf/ ships as rlkit/conf only"


def test_wheel_ships_every_python_module(wheel):
    """pyproject lists the packages by hand: a new subpackage left out would be missing from installs."""
    names = set(zipfile.ZipFile(wheel[0]).namelist())
    modules = {p.relative_to(REPO).as_posix() for p in (REPO / "rlkit").rglob("*.py")}
    assert len(modules) > 50 and modules <= names, sorted(modules - names)


def test_wheel_builds_without_setuptools_warnings(wheel):
    output = wheel[1]
    assert "absent from the `packages`" not in output
    assert not re.search(r"deprecat", output, re.IGNORECASE), output[-3000:]
    assert "BuildBackendWarning" not in output, output[-3000:]


def test_wheel_metadata_uses_an_spdx_license(wheel):
    with zipfile.ZipFile(wheel[0]) as whl:
        metadata = whl.read(next(n for n in whl.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: MIT" in metadata.splitlines()


def test_installed_package_finds_every_conf_yaml():
    """The install in use (editable in a checkout) resolves pkg://rlkit.conf to all of conf/."""
    root = importlib.resources.files("rlkit.conf")
    for name in conf_yamls():
        assert root.joinpath(*name.split("/")).is_file(), name


def test_setuptools_floor_is_the_same_everywhere():
    """SPDX license strings need setuptools >= 77: the build backend, the test extra, setup.sh and the
    Dockerfile (which builds rlkit without build isolation) agree."""
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert isinstance(project["project"]["license"], str)
    assert "setuptools>=77" in project["build-system"]["requires"]
    assert "setuptools>=77" in project["project"]["optional-dependencies"]["test"]
    assert '"setuptools>=77"' in (REPO / "scripts" / "setup.sh").read_text()
    assert '"setuptools>=77"' in (REPO / "Dockerfile").read_text()
