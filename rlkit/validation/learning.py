"""The learner: schedules, replay sizes, ingredient knobs, head/loss compatibility, evaluation."""

from __future__ import annotations

from importlib import resources

from omegaconf import DictConfig, ListConfig, OmegaConf

from rlkit import registry
from rlkit.validation.checker import ABSENT, Checker, is_int


def check_learning(c: Checker) -> None:
    """Agent, replay and training schedule (agent steps), and the relations between them."""
    batch = c.at_least("agent.batch_size", 1, fix="set agent.batch_size=32 (the DQN papers' value)")
    n_step = c.at_least("agent.n_step", 1, fix="set agent.n_step=1 (one-step returns) or more (Rainbow: 3)")
    c.in_unit_interval("agent.gamma", "the discount gamma")
    tau = c.number("agent.tau", integer=False, fix="set agent.tau=1.0 (hard target copies)")
    if tau is not None and not 0.0 < tau <= 1.0:
        c.add("agent.tau", f"must lie in (0, 1], got {tau}", "set agent.tau=1.0 (hard copies) or a Polyak rate like 0.005")
    c.at_least("agent.target_update_every_steps", 1, fix="set agent.target_update_every_steps to 1 or more agent steps")
    norm = c.number("agent.max_grad_norm", integer=False, nullable=True, fix="set agent.max_grad_norm=10.0, or null")
    if norm is not None and not norm >= 0:
        c.add("agent.max_grad_norm", f"must be >= 0 or null, got {norm}", "set agent.max_grad_norm=10.0, or null")
    capacity = c.at_least("replay.capacity", 1, fix="set replay.capacity to 1 or more transitions")
    steps = c.at_least("train.steps", 1, fix="set train.steps to 1 or more agent steps")
    starts = c.at_least("train.learning_starts_steps", 0, fix="set train.learning_starts_steps=0 or more")
    c.at_least("train.update_every_steps", 1, fix="set train.update_every_steps=1 or more agent steps")
    c.at_least("train.updates_per_cycle", 1, fix="set train.updates_per_cycle=1 or more")
    c.at_least("train.log_every_steps", 1, fix="set train.log_every_steps=1 or more agent steps")
    c.number("train.stop_at_eval_return", integer=False, nullable=True, fix="set a return, or null")
    check_pipeline(c)
    check_learner_thread(c)
    on_device = c.value("replay.on_device", required=False)
    if on_device is not ABSENT and not isinstance(on_device, bool):
        c.add("replay.on_device", f"must be true or false, got {on_device!r}", "set replay.on_device=false or true")
    elif on_device is True and c.value("replay.storage.name", required=False) != "frame_stack":
        storage = c.value("replay.storage.name", required=False)
        c.add("replay.on_device", f"is true but replay/storage={storage}: the device copy holds single frames and "
              "gathers stacks from them, which only the frame_stack storage has",
              "set replay/storage=frame_stack (image observations), or replay.on_device=false")
    c.at_least("checkpoint.every", 0, nullable=True, required=False,
               fix="set checkpoint.every to 0 (only on stop signals) or more agent steps")
    c.at_least("checkpoint.keep_last", 0, required=False, fix="set checkpoint.keep_last to 0 (keep all) or more")
    for key in ("checkpoint.replay", "checkpoint.keep_after_finish"):
        c.flag(key, required=False)

    if batch is not None and capacity is not None and batch > capacity:
        c.add("agent.batch_size", f"a batch of {batch} is larger than replay.capacity={capacity}",
              f"lower agent.batch_size or raise replay.capacity to at least {batch}")
    if batch is not None and n_step is not None and starts is not None:
        needed = batch + n_step - 1  # n-step rows appear n - 1 steps after their first step
        if starts < needed:
            c.add("train.learning_starts_steps",
                  f"learning would start at step {starts}, before a batch can be drawn: {batch} n-step "
                  f"transitions (agent.batch_size={batch}, agent.n_step={n_step}) need {needed} steps stored",
                  f"set train.learning_starts_steps={needed} or more, or lower agent.batch_size")
    if starts is not None and steps is not None and starts >= steps:
        c.add("train.learning_starts_steps", f"is {starts} >= train.steps={steps}: no update would ever run",
              "lower train.learning_starts_steps or raise train.steps")
    check_frame_store(c, capacity, n_step)


def check_pipeline(c: Checker) -> None:
    """``train.pipeline`` (pipelined acting) and its groups, which split ``env.num_envs`` evenly."""
    pipeline = c.flag("train.pipeline", required=False,
                      fix="set train.pipeline=false (the exact synchronous loop) or true (pipelined acting)")
    groups = c.at_least("train.pipeline_groups", 1, required=False, fix="set train.pipeline_groups=1 or more")
    if groups in (None, ABSENT) or groups == 1:
        return
    if pipeline is False:
        c.add("train.pipeline_groups", f"is {groups} but train.pipeline=false: groups only split pipelined acting",
              "set train.pipeline=true, or train.pipeline_groups=1")
        return
    num_envs = c.value("env.num_envs", required=False)
    if is_int(num_envs) and num_envs >= 1 and num_envs % groups:
        c.add("train.pipeline_groups", f"{groups} groups cannot split env.num_envs={num_envs} evenly",
              f"set train.pipeline_groups to a divisor of {num_envs} (e.g. 1), or env.num_envs to a multiple of {groups}")


def check_learner_thread(c: Checker) -> None:
    """``train.learner_thread`` (the learner beside the acting loop) and how far the actor may run ahead."""
    c.flag("train.learner_thread", required=False,
           fix="set train.learner_thread=false (the exact synchronous loop) or true (the learner in a thread)")
    c.at_least("train.learner_max_lag", 0, required=False,
               fix="set train.learner_max_lag=1 (the actor runs at most one update cycle ahead), or 0 (none)")


def check_frame_store(c: Checker, capacity: int | None, n_step: int | None) -> None:
    """The frame store keeps ``capacity // num_envs`` frames per env: a stack plus an n-step window must fit."""
    if c.value("replay.storage.name", required=False) != "frame_stack" or capacity is None or n_step is None:
        return
    stack = c.value("env.stack", required=False)
    num_envs = c.value("env.num_envs", required=False)
    if not (isinstance(stack, int) and isinstance(num_envs, int) and stack >= 1 and num_envs >= 1):
        return
    per_env, needed = capacity // num_envs, stack + n_step + 2
    if per_env < needed:
        c.add("replay.capacity", f"frame_stack keeps {per_env} frames per env ({capacity} // env.num_envs="
              f"{num_envs}); a {stack}-frame stack and a {n_step}-step window need {needed}",
              f"set replay.capacity={needed * num_envs} or more")


def check_knob_nodes(c: Checker) -> None:
    """Ingredient hyper-parameters, on the nodes the selected parts read; fixes name the knobs."""
    if c.value("exploration.name", required=False) == "epsilon":
        start = c.in_unit_interval("exploration.start", "the initial epsilon", knob="epsilon.start")
        end = c.in_unit_interval("exploration.end", "the final epsilon", knob="epsilon.end")
        decay = c.setting("exploration.decay_steps", "epsilon.decay_steps")
        c.at_least("exploration.decay_steps", 0, fix=f"set {decay} to 0 or more agent steps")
        if c.value("exploration.schedule", required=False) == "exponential":
            for key, value in (("exploration.start", start), ("exploration.end", end)):
                if value is not None and value <= 0:
                    c.add(key, f"an exponential schedule needs epsilon > 0, got {value}",
                          f"set {c.setting(key, 'epsilon.' + key.rsplit('.', 1)[1])} > 0 or epsilon.schedule=linear")
    if c.value("replay.sampler.name", required=False) == "prioritized":
        alpha = c.setting("replay.sampler.alpha", "per.alpha")
        c.at_least("replay.sampler.alpha", 0.0, integer=False,
                   fix=f"set {alpha} >= 0 (0 = uniform; Schaul et al. 2016 use 0.6, Rainbow 0.5)")
        c.in_unit_interval("replay.sampler.beta_start", "the initial importance-sampling exponent", knob="per.beta_start")
        c.in_unit_interval("replay.sampler.beta_end", "the final importance-sampling exponent", knob="per.beta_end")
        eps = c.setting("replay.sampler.eps", "per.eps")
        c.at_least("replay.sampler.eps", 0.0, integer=False, fix=f"set {eps} >= 0 (default 1e-6)")
    check_head_and_loss(c)
    for key, knob in (("network.layer.sigma0", "noisy.sigma0"), ("network.layer.sigma", "noisy.sigma")):
        if c.value(key, required=False) is not ABSENT:
            value = c.number(key, integer=False, fix=f"set {c.setting(key, knob)} > 0")
            if value is not None and not value > 0:
                c.add(key, f"noise scale must be > 0, got {value}",
                      f"set {c.setting(key, knob)} > 0, or network/layer=linear for no parameter noise")
    for key, knob in (("network.head.hidden_sizes", "network.hidden_sizes"),
                      ("network.torso.hidden_sizes", "network.torso_hidden_sizes")):
        sizes = c.value(key, required=False)
        if sizes is ABSENT or sizes is None:
            continue
        if not isinstance(sizes, ListConfig) or not all(is_int(s) and s >= 1 for s in sizes):
            c.add(key, f"must be a list of positive layer widths, got {sizes!r}", f"set {c.setting(key, knob)}=[512]")


def check_head_and_loss(c: Checker) -> None:
    """The output kind's settings (C51 support, quantile counts), and that the loss accepts the head's
    output kind (each loss declares ``accepts``; the fix names the losses and head options that fit)."""
    output = "network.head.output"
    if c.value(f"{output}.num_atoms", required=False) is not ABSENT:
        c.at_least(f"{output}.num_atoms", 2, fix=f"set {c.setting(f'{output}.num_atoms', 'c51.num_atoms')}=51 "
                   "(Bellemare et al. 2017), at least 2")
    if c.value(f"{output}.v_min", required=False) is not ABSENT and c.value(f"{output}.v_max", required=False) is not ABSENT:
        v_min = c.number(f"{output}.v_min", integer=False, fix="set c51.v_min to a number")
        v_max = c.number(f"{output}.v_max", integer=False, fix="set c51.v_max to a number")
        if v_min is not None and v_max is not None and not v_min < v_max:
            lo, hi = c.setting(f"{output}.v_min", "c51.v_min"), c.setting(f"{output}.v_max", "c51.v_max")
            c.add(f"{output}.v_min", f"the return support needs v_min < v_max, got v_min={v_min} >= v_max={v_max}",
                  f"set {lo} below {hi}, e.g. {lo}=-10 {hi}=10 (Atari, clipped rewards)")
    for key, knob in (("num_quantiles", "qr.num_quantiles"), ("embedding_dim", "iqn.embedding_dim"),
                      ("num_samples_online", "iqn.num_samples_online"), ("num_samples_target", "iqn.num_samples_target"),
                      ("num_samples_act", "iqn.num_samples_act")):
        if c.value(f"{output}.{key}", required=False) is not ABSENT:
            c.at_least(f"{output}.{key}", 1, fix=f"set {c.setting(f'{output}.{key}', knob)} to a positive count")
    if c.value("loss.kappa", required=False) is not ABSENT:
        c.at_least("loss.kappa", 0.0, integer=False, fix=f"set {c.setting('loss.kappa', 'qr.kappa')}=1.0 (QR-DQN-1)")
    if c.value("target.name", required=False) == "munchausen":
        tau = c.number("target.tau", integer=False, fix="set munchausen.tau=0.03 (Vieillard et al. 2020)")
        if tau is not None and not tau > 0:
            c.add("target.tau", f"the softmax temperature must be > 0, got {tau}",
                  f"set {c.setting('target.tau', 'munchausen.tau')}=0.03 (Vieillard et al. 2020)")
    kind, loss_name = head_output_kind(c), c.value("loss.name", required=False)
    if kind is None or loss_name not in registry.names("loss"):
        return
    accepts = getattr(registry.get("loss", loss_name), "accepts", None)
    if accepts is None or kind in accepts:
        return
    losses = [name for name in registry.names("loss") if kind in getattr(registry.get("loss", name), "accepts", ())]
    heads = sorted(name for name, head_kind in head_options_by_kind().items() if head_kind in accepts)
    head = c.value("network.head.name", required=False)
    c.add("loss.name", f"loss {loss_name!r} needs a head with {' or '.join(sorted(accepts))} outputs, but "
          f"network.head ({head}) outputs {kind} values",
          f"use loss={' or '.join(losses) or '<one that accepts ' + kind + '>'} with this head, or "
          f"network/head={' or '.join(heads) or '<a ' + '/'.join(sorted(accepts)) + ' head>'} with this loss")


def head_output_kind(c: Checker) -> str | None:
    """The output kind of the configured head: its ``output`` node's registered kind (none: scalar)."""
    name = c.value("network.head.output.name", required=False)
    if name is ABSENT:
        return "scalar" if c.value("network.head.name", required=False) in registry.names("network/head") else None
    if name not in registry.names("network/output"):
        return None
    return str(registry.get("network/output", name).kind)


def head_options_by_kind() -> dict[str, str]:
    """``{network/head option: output kind}`` for the shipped head files (conf/network/head/*.yaml)."""
    options: dict[str, str] = {}
    for entry in sorted(resources.files("rlkit.conf").joinpath("network/head").iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yaml"):
            continue
        node = OmegaConf.create(entry.read_text(encoding="utf-8"))
        output = node.get("output") if isinstance(node, DictConfig) else None
        name = output.get("name") if isinstance(output, DictConfig) else "scalar"
        if name in registry.names("network/output"):
            options[entry.name[: -len(".yaml")]] = str(registry.get("network/output", name).kind)
    return options


def check_eval(c: Checker) -> None:
    c.at_least("eval.every_steps", 0, fix="set eval.every_steps to 0 (final evaluation only) or more")
    c.at_least("eval.episodes", 1, fix="set eval.episodes=10 (or any count >= 1)")
    c.at_least("eval.final_episodes", 1, nullable=True, required=False,
               fix="set eval.final_episodes=null (as eval.episodes) or a count >= 1")
    c.in_unit_interval("eval.epsilon", "the evaluation epsilon")
    c.at_least("eval.num_envs", 1, fix="set eval.num_envs=1 or more")
    c.at_least("eval.max_steps", 1, nullable=True, fix="set eval.max_steps=null (until eval.episodes end) or >= 1")
    video = c.value("eval.video", required=False)
    if video is not ABSENT and not isinstance(video, bool):
        c.add("eval.video", f"must be true or false, got {video!r}", "set eval.video=true or false")
    elif video:
        c.at_least("eval.video_episodes", 1, fix="set eval.video_episodes=1 or more")
