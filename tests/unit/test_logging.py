"""Loggers (jsonl, console, tensorboard, wandb), build_loggers and learning-curve plots."""

from __future__ import annotations

import io
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from rich.console import Console

from rlkit import registry
from rlkit.analysis import plot_learning_curve
from rlkit.analysis.curves import rolling_mean
from rlkit.logging import Logger, LoggerGroup, build_loggers, read_metrics
from rlkit.logging import console as console_mod
from rlkit.logging.console import ConsoleLogger
from rlkit.logging.jsonl import JsonlLogger
from rlkit.logging.tensorboard import TensorBoardLogger
from rlkit.logging.wandb_logger import WandbLogger, has_wandb_credentials

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Keep wandb/matplotlib state in tmp dirs; no credentials; wandb never online."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("MPLCONFIGDIR", str(home / "mpl"))
    for var in ("WANDB_DIR", "WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(var, str(home / var.lower()))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_CONSOLE", "off")
    monkeypatch.setenv("NETRC", str(home / "no-netrc"))
    for var in ("WANDB_API_KEY", "WANDB_IDENTITY_TOKEN_FILE", "WANDB_BASE_URL"):
        monkeypatch.delenv(var, raising=False)


# -- jsonl ---------------------------------------------------------------------------------------


def test_jsonl_lines_are_json_with_step_time_and_floats(tmp_path: Path) -> None:
    lg = JsonlLogger(run_dir=tmp_path)
    lg.log(100, {"charts/SPS": np.float32(250.0), "losses/td_loss": torch.tensor(0.5), "n": 3})
    lg.log(200, {"charts/episodic_return": 21.0})
    # flushed per line: readable before close
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["step"] == 100 and isinstance(first["step"], int)
    assert first["charts/SPS"] == 250.0 and first["losses/td_loss"] == 0.5 and first["n"] == 3.0
    assert all(type(first[k]) is float for k in ("charts/SPS", "losses/td_loss", "n"))
    assert 0.0 <= first["time"] <= second["time"] < 60.0
    assert second == {"step": 200, "time": second["time"], "charts/episodic_return": 21.0}
    lg.close()


def test_jsonl_appends_across_instances_and_continues_time(tmp_path: Path) -> None:
    a = JsonlLogger(run_dir=tmp_path, filename="m.jsonl")
    a.log(1, {"x": 1.0})
    state = a.state_dict()
    a.close()
    b = JsonlLogger(run_dir=tmp_path, filename="m.jsonl")
    b.load_state_dict({"elapsed": state["elapsed"] + 1000.0})
    b.log(2, {"x": 2.0})
    b.close()
    records = read_metrics(tmp_path / "m.jsonl")
    assert [(r["step"], r["x"]) for r in records] == [(1, 1.0), (2, 2.0)]
    assert records[1]["time"] >= 1000.0 > records[0]["time"]


def test_jsonl_non_finite_written_as_null_read_as_nan(tmp_path: Path) -> None:
    lg = JsonlLogger(run_dir=tmp_path)
    lg.log(5, {"a": float("nan"), "b": float("inf"), "c": -math.inf, "d": 1.5})
    lg.close()
    raw = (tmp_path / "metrics.jsonl").read_text()
    assert "NaN" not in raw and "Infinity" not in raw
    obj = json.loads(raw)
    assert obj["a"] is None and obj["b"] is None and obj["c"] is None and obj["d"] == 1.5
    (rec,) = read_metrics(tmp_path / "metrics.jsonl")
    assert math.isnan(rec["a"]) and math.isnan(rec["b"]) and rec["d"] == 1.5


def test_jsonl_rejects_reserved_and_non_scalar(tmp_path: Path) -> None:
    lg = JsonlLogger(run_dir=tmp_path)
    with pytest.raises(ValueError, match="reserved"):
        lg.log(1, {"step": 3.0})
    with pytest.raises(TypeError, match="'bad'"):
        lg.log(1, {"bad": "text"})
    lg.close()


def test_read_metrics_tolerates_truncated_last_line(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    lg = JsonlLogger(run_dir=tmp_path)
    lg.log(1, {"x": 1.0})
    lg.log(2, {"x": 2.0})
    lg.close()
    with path.open("a") as f:
        f.write('{"step": 3, "x": 3.')  # writer killed mid-line
    assert [r["step"] for r in read_metrics(path)] == [1, 2]

    # a resumed writer isolates the fragment, so its own lines stay readable
    resumed = JsonlLogger(run_dir=tmp_path)
    resumed.log(3, {"x": 3.0})
    resumed.close()
    assert [(r["step"], r["x"]) for r in read_metrics(path)] == [(1, 1.0), (2, 2.0), (3, 3.0)]


# -- LoggerGroup / build_loggers ----------------------------------------------------------------


class _Recorder(Logger):
    def __init__(self, *, fail: bool = False) -> None:
        self.calls: list[tuple] = []
        self.fail = fail
        self.closed = False

    def log(self, step, metrics):
        self.calls.append((step, dict(metrics)))

    def close(self):
        self.closed = True
        if self.fail:
            raise OSError("disk full")

    def state_dict(self):
        return {"n": len(self.calls)}

    def load_state_dict(self, state):
        self.calls.append(("loaded", dict(state)))


class _RuntimeProbe(Logger):
    """Declares only ``run_dir`` of the run-time values."""

    def __init__(self, *, run_dir: Path, tag: str = "t") -> None:
        self.run_dir = run_dir
        self.tag = tag

    def log(self, step, metrics):
        pass


def test_logger_group_fans_out_and_closes_all_even_if_one_raises() -> None:
    a, b, c = _Recorder(), _Recorder(fail=True), _Recorder()
    group = LoggerGroup({"a": a, "b": b, "c": c})
    group.log(10, {"m": 1.0})
    assert a.calls == b.calls == c.calls == [(10, {"m": 1.0})]
    assert group.state_dict() == {"a": {"n": 1}, "b": {"n": 1}, "c": {"n": 1}}
    group.load_state_dict({"c": {"n": 7}, "gone": {}})
    assert c.calls[-1] == ("loaded", {"n": 7}) and a.calls[-1] == (10, {"m": 1.0})
    with pytest.raises(OSError, match="disk full"):
        group.close()
    assert a.closed and b.closed and c.closed
    group.close()  # idempotent, does not raise again


@pytest.fixture
def _probe_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register ``_RuntimeProbe`` for one test only (other tests walk every registered name)."""
    monkeypatch.setitem(registry._REGISTRY["logger"], "_test_probe", _RuntimeProbe)


@pytest.mark.usefixtures("_probe_registered")
def test_build_loggers_skips_disabled_and_filters_runtime(tmp_path: Path) -> None:
    cfg = {
        "jsonl": {"name": "jsonl", "enabled": True, "filename": "out.jsonl"},
        "probe": {"name": "_test_probe", "tag": "x"},  # enabled defaults to true
        "tensorboard": {"name": "tensorboard", "enabled": False},
        "wandb": {"name": "wandb", "enabled": False, "mode": "online"},
        "removed": None,
    }
    group = build_loggers(cfg, run_dir=tmp_path, total_steps=1000, run_name="r")
    assert list(group) == ["jsonl", "probe"]
    assert isinstance(group["jsonl"], JsonlLogger)
    assert group["probe"].run_dir == tmp_path and group["probe"].tag == "x"
    with group:
        group.log(3, {"v": 1.0})
    assert read_metrics(tmp_path / "out.jsonl")[0]["v"] == 1.0


def test_build_loggers_accepts_omegaconf(tmp_path: Path) -> None:
    omegaconf = pytest.importorskip("omegaconf")
    cfg = omegaconf.OmegaConf.create(
        {"fname": "o.jsonl", "jsonl": {"name": "jsonl", "enabled": True, "filename": "${fname}"}}
    )
    group = build_loggers(
        {"jsonl": cfg.jsonl}, run_dir=tmp_path, total_steps=10, run_name="r"
    )
    group.close()
    assert (tmp_path / "o.jsonl").exists()


def test_build_loggers_unknown_name_lists_valid_names(tmp_path: Path) -> None:
    with pytest.raises(registry.RegistryError) as err:
        build_loggers(
            {"x": {"name": "tensorbord", "enabled": True}},
            run_dir=tmp_path,
            total_steps=10,
            run_name="r",
        )
    message = str(err.value)
    for name in ("console", "jsonl", "tensorboard", "wandb"):
        assert name in message
    assert "Did you mean 'tensorboard'" in message


def test_build_loggers_rejects_unknown_config_key(tmp_path: Path) -> None:
    with pytest.raises(registry.RegistryError, match="filenme"):
        build_loggers(
            {"jsonl": {"name": "jsonl", "filenme": "x"}},
            run_dir=tmp_path,
            total_steps=10,
            run_name="r",
        )


# -- console --------------------------------------------------------------------------------------


def _plain_console(buf: io.StringIO) -> Console:
    return Console(file=buf, force_terminal=False, width=80)


def test_console_non_tty_output_is_rate_limited(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(console_mod, "_clock", lambda: now[0])
    buf = io.StringIO()
    lg = ConsoleLogger(total_steps=100_000, log_interval_s=60.0, console=_plain_console(buf))
    assert not lg.live
    for step in range(0, 100_001, 100):  # 1001 calls over 100 s of fake time
        now[0] = 1000.0 + step / 1000.0
        lg.log(step, {"charts/SPS": 1000.0, "charts/episodic_return": step / 1000.0})
        if step == 50_000:
            lg.log(step, {"eval/episodic_return": 17.25})
    lg.end_run("finished", 100_000)
    lg.close()
    lines = buf.getvalue().splitlines()
    # first call, then one at t=60 s, then the final line: bounded, not one per step
    assert len(lines) == 3, lines
    assert "step 0/100,000 (0.0%)" in lines[0] and "SPS 1000" in lines[0]
    assert "step 60,000/100,000 (60.0%)" in lines[1] and "return 60.00" in lines[1]
    assert "eval 17.25" in lines[1] and "elapsed 0:01:00" in lines[1] and "ETA 0:00:40" in lines[1]
    assert "train finished:" in lines[2] and "step 100,000/100,000 (100.0%)" in lines[2]
    assert "return 100.00" in lines[2] and "ETA" not in lines[2]
    assert all(len(line) > 80 for line in lines)  # one line each, never wrapped at the width


def test_console_measures_sps_without_metric_and_handles_unknown_total(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [0.0]
    monkeypatch.setattr(console_mod, "_clock", lambda: now[0])
    buf = io.StringIO()
    lg = ConsoleLogger(total_steps=0, run_name="cartpole", console=_plain_console(buf))
    lg.log(0, {})
    now[0] = 10.0
    lg.log(2_000, {})
    assert lg.measured_sps() == pytest.approx(200.0)
    assert lg.eta() is None
    lg.end_run("finished", 2_000)
    lg.close()
    final = buf.getvalue().splitlines()[-1]
    assert "cartpole finished: step 2,000 | SPS 200" in final and "ETA" not in final


@pytest.mark.parametrize("width", [80, 160])
def test_console_live_bar_on_terminal(width: int) -> None:
    buf = io.StringIO()
    term = Console(file=buf, force_terminal=True, width=width, color_system=None)
    lg = ConsoleLogger(
        total_steps=10_000_000, run_name="rainbow[Pong]_seed3", console=term, refresh_per_second=10
    )
    assert lg.live
    lg.log(3_250_000, {"charts/SPS": 512.0, "charts/episodic_return": -12.5})
    lg.log(3_250_000, {"eval/episodic_return": 4.5})
    lg.end_run("stopped", 3_250_000, "by SIGUSR1; checkpoint step_000003250000")
    lg.close()
    out = buf.getvalue()
    # two lines per redraw, both fit an 80-column terminal without being cut
    assert "rainbow[Pong]_seed3" in out and "3,250,000/10,000,000 steps (32.5%)" in out
    assert "SPS 512 | return -12.50 | eval 4.50 | elapsed 0:00:00 | ETA " in out
    assert ("rainbow[Pong]_seed3 stopped (by SIGUSR1; checkpoint step_000003250000): step 3,250,000/10,000,000 "
            "(32.5%)") in out


def test_format_duration() -> None:
    assert console_mod.format_duration(3_725) == "1:02:05"
    assert console_mod.format_duration(2 * 86_400 + 61) == "2d 0:01:01"
    assert console_mod.format_duration(None) == "-"


# -- tensorboard ----------------------------------------------------------------------------------


def test_tensorboard_writes_events_under_run_dir(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    lg = TensorBoardLogger(run_dir=tmp_path)
    lg.log_config({"agent": {"gamma": 0.99}})
    lg.log(10, {"losses/td_loss": 0.25})
    lg.log(20, {"losses/td_loss": np.float64(0.125)})
    assert lg.state_dict() == {"last_step": 20}
    lg.close()
    events = list((tmp_path / "tb").glob("events.out.tfevents.*"))
    assert len(events) == 1
    acc = EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    scalars = acc.Scalars("losses/td_loss")
    assert [(s.step, s.value) for s in scalars] == [(10, 0.25), (20, 0.125)]


def test_tensorboard_missing_package_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(ImportError, match=r"pip install tensorboard"):
        TensorBoardLogger(run_dir=tmp_path)


# -- wandb ----------------------------------------------------------------------------------------


def test_wandb_offline_run_and_resume_same_id(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    lg = WandbLogger(run_dir=run_dir, run_name="pong-s0", tags=["unit"])
    lg.log_config({"agent": {"gamma": 0.99}})
    lg.log(100, {"charts/episodic_return": 1.0})
    run_id = lg.state_dict()["run_id"]
    assert lg.run.id == run_id and lg.run.name == "pong-s0"
    assert dict(lg.run.config)["agent"] == {"gamma": 0.99}
    lg.close()
    run_dirs = list((run_dir / "wandb").glob(f"offline-run-*-{run_id}"))
    assert len(run_dirs) == 1 and (run_dirs[0] / f"run-{run_id}.wandb").stat().st_size > 0

    # resumed: a fresh logger restored from the checkpointed state continues the same run
    resumed = WandbLogger(run_dir=run_dir, run_name="pong-s0")
    resumed.load_state_dict({"run_id": run_id})
    resumed.log(50, {"charts/episodic_return": 2.0})  # steps may repeat after a resume
    assert resumed.run.id == run_id
    resumed.close()
    by_run_id = WandbLogger(run_dir=run_dir, run_name="pong-s0", run_id=run_id)
    assert by_run_id.state_dict() == {"run_id": run_id}
    by_run_id.close()


def test_wandb_online_without_key_fails_before_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import wandb

    def no_network(*args, **kwargs):
        raise AssertionError("wandb.init must not be reached")

    monkeypatch.setattr(wandb, "init", no_network)
    assert not has_wandb_credentials()
    with pytest.raises(RuntimeError, match=r"logger\.wandb\.mode=offline") as err:
        WandbLogger(run_dir=tmp_path, run_name="r", mode="online")
    assert "WANDB_API_KEY" in str(err.value)


def test_wandb_credentials_from_env_or_netrc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert has_wandb_credentials()
    monkeypatch.delenv("WANDB_API_KEY")
    netrc_file = tmp_path / "netrc"
    netrc_file.write_text("machine api.wandb.ai\n  login user\n  password " + "k" * 40 + "\n")
    netrc_file.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc_file))
    assert has_wandb_credentials()
    monkeypatch.setenv("WANDB_BASE_URL", "https://wandb.example.org")
    assert not has_wandb_credentials()


def test_wandb_disabled_is_a_noop_without_wandb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "wandb", None)
    lg = WandbLogger(run_dir=tmp_path, run_name="r", mode="disabled", run_id="abc123")
    lg.log(1, {"x": 1.0})
    assert lg.state_dict() == {"run_id": "abc123"}
    lg.close()
    assert not (tmp_path / "wandb").exists()
    with pytest.raises(ImportError, match=r"pip install wandb"):
        WandbLogger(run_dir=tmp_path, run_name="r", mode="offline")


# -- learning curves ------------------------------------------------------------------------------


def _write_metrics(path: Path, *, train: bool, evaluation: bool) -> None:
    rng = np.random.default_rng(0)
    with path.open("w") as f:
        for i in range(1, 201):
            step = i * 500
            if train:
                f.write(json.dumps({"step": step, "charts/episodic_return": i + rng.normal()}) + "\n")
            if evaluation and i % 40 == 0:
                rec = {"step": step, "eval/episodic_return": float(i), "eval/episodic_return_std": 3.0}
                f.write(json.dumps(rec) + "\n")


@pytest.mark.parametrize(
    ("train", "evaluation"), [(True, True), (True, False), (False, True), (False, False)]
)
def test_plot_learning_curve_writes_png(tmp_path: Path, train: bool, evaluation: bool) -> None:
    metrics = tmp_path / "run" / "metrics.jsonl"
    metrics.parent.mkdir()
    _write_metrics(metrics, train=train, evaluation=evaluation)
    out = plot_learning_curve(metrics, tmp_path / "plots" / "curve.png", title="Pong")
    assert out == tmp_path / "plots" / "curve.png"
    data = out.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 10_000


def test_rolling_mean_is_trailing_with_partial_start() -> None:
    np.testing.assert_allclose(rolling_mean(np.array([1.0, 2.0, 3.0, 4.0]), 2), [1.0, 1.5, 2.5, 3.5])
    np.testing.assert_allclose(rolling_mean(np.array([2.0, 4.0]), 5), [2.0, 3.0])
