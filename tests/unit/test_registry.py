from __future__ import annotations

import pytest

from rlkit import registry
from rlkit.registry import RegistryError, build, names, register


@pytest.fixture()
def group():
    name = "test/widgets"
    yield name
    registry._REGISTRY.pop(name, None)


def test_register_build_and_names(group):
    @register(group, "square")
    class Square:
        def __init__(self, *, side: float, device: str = "cpu") -> None:
            self.side, self.device = side, device

    @register(group, "circle")
    def circle(*, radius: float) -> dict:
        return {"radius": radius}

    assert names(group) == ["circle", "square"]
    sq = build(group, {"name": "square", "side": 2.0}, device="cuda", num_actions=3)  # num_actions not declared
    assert (sq.side, sq.device) == (2.0, "cuda")
    assert build(group, {"name": "circle", "radius": 1.5}) == {"radius": 1.5}


def test_unknown_name_lists_valid_names_and_closest(group):
    @register(group, "dueling")
    class A:
        pass

    @register(group, "dueling_c51")
    class B:
        pass

    with pytest.raises(RegistryError) as err:
        build(group, {"name": "dueling_c5"})
    text = str(err.value)
    assert group in text and "dueling, dueling_c51" in text and "Did you mean 'dueling_c51'?" in text


def test_unknown_group_and_missing_name(group):
    with pytest.raises(RegistryError, match="unknown group 'no/such'"):
        build("no/such", {"name": "x"})

    @register(group, "a")
    class A:
        pass

    with pytest.raises(RegistryError, match="no 'name' key"):
        build(group, {"size": 3})


def test_unknown_config_key_lists_accepted_keys(group):
    @register(group, "a")
    class A:
        def __init__(self, *, size: int = 1, obs_shape: tuple = ()) -> None:
            pass

    with pytest.raises(RegistryError) as err:
        build(group, {"name": "a", "sise": 3}, obs_shape=(4,))
    assert "sise" in str(err.value) and "size" in str(err.value)


def test_runtime_value_may_not_be_set_in_config(group):
    @register(group, "a")
    class A:
        def __init__(self, *, num_actions: int) -> None:
            pass

    with pytest.raises(RegistryError, match="set at run time"):
        build(group, {"name": "a", "num_actions": 3}, num_actions=4)


def test_duplicate_registration_of_a_different_object_fails(group):
    @register(group, "a")
    class A:
        pass

    register(group, "a")(A)  # re-registering the same object is harmless (module reloads)
    with pytest.raises(RegistryError, match="already registered"):

        @register(group, "a")
        class Other:
            pass


def test_builtin_groups_are_populated():
    import rlkit.components  # noqa: F401

    assert {"q", "dueling"} <= set(names("network/head"))
    assert {"scalar", "categorical", "quantile", "implicit_quantile"} <= set(names("network/output"))
    assert {"linear", "noisy_factorised", "noisy_independent"} <= set(names("network/layer"))
    assert {"uniform", "prioritized"} <= set(names("replay/sampler"))
    for group_name in ("env", "network/torso", "exploration", "target", "loss", "replay/storage", "optim",
                       "logger", "agent"):
        assert names(group_name), group_name
