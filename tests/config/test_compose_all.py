"""Every option of every group composes and builds; YAML keys agree with constructors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from rlkit import registry
from tests.helpers import compose

CONF = Path(__file__).resolve().parents[2] / "conf"
# groups whose options are registry components (group dir -> registry group)
COMPONENT_GROUPS = {
    "env": "env", "network/torso": "network/torso", "network/head": "network/head",
    "network/layer": "network/layer", "exploration": "exploration", "target": "target", "loss": "loss",
    "replay/storage": "replay/storage", "replay/sampler": "replay/sampler", "optim": "optim",
    "augmentation": "augmentation",
}
# run-time values each registry group receives from the builder
RUNTIME = {
    "env": set(), "network/torso": {"obs_shape"}, "network/head": {"in_features", "num_actions", "layer"},
    "network/layer": set(), "exploration": set(), "target": set(), "loss": set(),
    "replay/storage": {"capacity", "obs_shape", "obs_dtype", "num_envs", "n_step", "gamma"},
    "replay/sampler": {"capacity", "seed"}, "augmentation": {"seed"},
    "optim": {"params"}, "logger": {"run_dir", "total_steps", "run_name"},
    "agent": {"network", "optimizer_factory", "loss", "target_rule", "exploration", "augmentation", "device",
              "num_actions", "seed"},
}


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def _cases():
    for group in COMPONENT_GROUPS:
        for option in _options(group):
            yield group, option


def _compatible(group: str, option: str) -> list[str]:
    """Overrides that make ``group=option`` a coherent run (heads need a matching loss)."""
    extra = []
    if group == "network/head":
        extra.append("loss=categorical" if "c51" in option else "loss=td")
    if group == "loss":
        extra.append("network/head=c51" if option == "categorical" else "network/head=q")
    if group == "replay/storage" and option == "frame_stack":
        pytest.skip("needs stacked image observations; built and run in tests/unit/test_frame_storage.py")
    if group == "augmentation" and option == "random_shift":
        extra.append("env=atari")  # image observations (validation refuses random shifts of vectors)
    if group == "optim":  # CartPole's DQN tuning names torch's RMSProp; keep the option under test
        extra.append(f"optim.name={option}")
    if group == "network/torso" and option != "mlp":
        pytest.skip("image torsos are built in the torso tests and the Atari env tests")
    return extra


@pytest.mark.parametrize(("group", "option"), list(_cases()))
def test_every_group_option_composes_and_builds(group, option):
    import rlkit.components  # noqa: F401
    from rlkit.training.builder import build_parts

    cfg = compose("agent=dqn", "torch_threads=1", f"{group}={option}", *_compatible(group, option))
    parts = build_parts(cfg, torch.device("cpu"))
    obs = torch.zeros((2, *parts.env_maker.spec.obs_shape))
    q = parts.agent.online.q_values(obs)
    assert q.shape == (2, parts.env_maker.spec.num_actions)
    if group == "optim":
        assert type(parts.agent.optimizer) is type(registry.build("optim", {"name": option}, params=[torch.zeros(1)]))


@pytest.mark.parametrize("agent", _options("agent"))
@pytest.mark.parametrize("env", _options("env"))
def test_every_agent_preset_builds_on_every_env(agent, env):
    import rlkit.components  # noqa: F401
    from rlkit.training.builder import build_parts

    cfg = compose(f"agent={agent}", f"env={env}", "torch_threads=1")
    parts = build_parts(cfg, torch.device("cpu"))
    assert parts.replay.storage.n_step == cfg.agent.n_step


def test_yaml_keys_agree_with_constructor_arguments():
    """Every YAML option's keys are constructor keywords, and every required keyword is set."""
    import rlkit.components  # noqa: F401

    problems = []
    for group, reg_group in COMPONENT_GROUPS.items():
        for option in _options(group):
            node = OmegaConf.load(CONF / group / f"{option}.yaml")
            keys = set(node.keys()) - {"defaults"}
            name = node.get("name")
            if name is None:
                problems.append(f"{group}/{option}.yaml has no name")
                continue
            accepted, required = registry.config_keys(reg_group, name)
            runtime = RUNTIME[reg_group]
            extra = keys - {"name"} - accepted
            missing = required - keys - runtime
            if extra:
                problems.append(f"{group}/{option}.yaml: keys {sorted(extra)} not accepted by {name}")
            if missing:
                problems.append(f"{group}/{option}.yaml: required {sorted(missing)} missing")
    for entry in OmegaConf.load(CONF / "logger" / "default.yaml").values():
        keys = set(entry.keys()) - {"name", "enabled"}
        accepted, required = registry.config_keys("logger", entry.name)
        if keys - accepted or required - keys - RUNTIME["logger"]:
            problems.append(f"logger/{entry.name}: keys {sorted(keys)} vs {sorted(accepted)}")
    assert not problems, "\n".join(problems)


def test_every_registered_component_has_a_yaml():
    import rlkit.components  # noqa: F401

    yaml_names = {
        group: {OmegaConf.load(p).get("name") for p in (CONF / group).glob("*.yaml")} for group in COMPONENT_GROUPS
    }
    missing = [f"{g}/{n}" for g in COMPONENT_GROUPS for n in registry.names(COMPONENT_GROUPS[g])
               if n not in yaml_names[g]]
    assert not missing, f"registered without a YAML option: {missing}"
    # output kinds are configured inside head files (network.head.output): each is used by one
    kinds = {OmegaConf.load(p).get("output", {}).get("name", "scalar") for p in (CONF / "network/head").glob("*.yaml")}
    assert set(registry.names("network/output")) <= kinds


def test_presets_swap_groups_and_cli_wins():
    cfg = compose("agent=rainbow")
    assert (cfg.network.head.name, cfg.network.head.output.name) == ("dueling", "categorical")
    assert (cfg.network.layer.name, cfg.exploration.name) == ("noisy_factorised", "noisy")
    assert (cfg.target.name, cfg.loss.name, cfg.replay.sampler.name, cfg.agent.n_step) == ("double", "categorical", "prioritized", 3)
    swapped = compose("agent=rainbow", "network/head=dueling", "loss=td")
    assert swapped.network.head.name == "dueling" and "output" not in swapped.network.head


def test_rainbow_preset_keeps_paper_units_on_atari_scale():
    # with 4 frames per agent step, Rainbow's 80K-frame warm-up and 32K-frame target period
    cfg = compose("agent=rainbow", "env=cartpole", "env.frame_skip=4", "~tuning")
    assert cfg.train.learning_starts_steps == 20_000 and cfg.agent.target_update_every_steps == 8_000
    assert cfg.optim.lr == 6.25e-5 and cfg.optim.eps == 1.5e-4 and cfg.per.alpha == 0.5
    der = compose("agent=der", "~tuning")
    assert der.agent.target_update_every_steps == 2_000 and der.train.learning_starts_steps == 1_600
    assert der.agent.n_step == 20 and der.noisy.sigma0 == 0.1 and der.optim.lr == 1e-4


def test_default_agent_is_rainbow_with_cartpole_sizes():
    cfg = compose()
    assert cfg.variant == "rainbow" and cfg.env.id == "CartPole-v1"
    assert cfg.replay.capacity == 50_000 and cfg.c51.v_max == 100.0
