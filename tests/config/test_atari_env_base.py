"""The Atari protocols extend one base (conf/env/atari_base.yaml) and set only the keys that differ."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from tests.helpers import compose

CONF = Path(__file__).resolve().parents[2] / "conf"
BASE = {  # the composed env node of every protocol, but for the keys in PROTOCOLS
    "name": "atari", "game": "pong", "id": "pong", "num_envs": 1, "num_threads": None, "frame_skip": 4,
    "max_pool": True, "screen_size": 84, "grayscale": True, "stack": 4, "noop_max": 0, "sticky_action_prob": 0.25,
    "full_action_space": False, "life_loss_terminal": False, "fire_reset": False, "reward_clip": 1.0,
    "max_episode_frames": 108_000, "eval_num_envs": 1,
}
NAMED = {"name", "game"}  # every env option names its component and required argument (test_compose_all)
PROTOCOLS = {  # option -> (keys that differ from BASE, keys its own file sets)
    "atari_base": ({}, set(BASE)),
    "atari_machado2018": ({}, NAMED),  # ALE v5's defaults, which the base holds
    "atari": ({}, NAMED),              # the default protocol: Machado et al. 2018, key for key
    "atari_dqn2015": ({"noop_max": 30, "sticky_action_prob": 0.0, "life_loss_terminal": True},
                      NAMED | {"noop_max", "sticky_action_prob", "life_loss_terminal"}),
}


def test_every_atari_option_is_listed_here():
    assert {p.stem for p in (CONF / "env").glob("atari*.yaml")} == set(PROTOCOLS)


@pytest.mark.parametrize("option", sorted(PROTOCOLS))
def test_protocol_composes_to_the_base_plus_its_differences(option):
    differs, _ = PROTOCOLS[option]
    cfg = compose(f"env={option}")
    assert OmegaConf.to_container(cfg.env) == {**BASE, **differs}
    # the base's group overrides reach every protocol (the env is listed after these groups in config.yaml)
    assert (cfg.network.torso.name, cfg.replay.storage.name) == ("nature_cnn", "frame_stack")
    assert (cfg.sizing.family, cfg.sizing.needs_tuning) == ("atari", False)


@pytest.mark.parametrize("option", sorted(PROTOCOLS))
def test_protocol_file_sets_only_what_differs(option):
    _, own = PROTOCOLS[option]
    node = OmegaConf.load(CONF / "env" / f"{option}.yaml")
    assert set(node) - {"defaults"} == own
    if option != "atari_base":
        assert node.defaults[0] in ("atari_base", "atari_machado2018")  # extends the base (atari via machado)


def test_default_protocol_is_machado2018():
    assert compose("env=atari").env == compose("env=atari_machado2018").env
    assert compose("env=atari_dqn2015", "env.game=breakout").env.id == "breakout"  # interpolation kept
    assert compose("env=atari", "network/torso=der_cnn").network.torso.name == "der_cnn"  # the CLI still wins
