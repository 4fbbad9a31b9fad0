"""Frame-deduplicating replay for stacked image observations (Mnih et al. 2015; Hessel et al. 2018).

An Atari observation is a stack of the last S frames ``[S, H, W]`` (newest last), so consecutive
observations share S - 1 frames and a transition's ``obs`` and ``next_obs`` share all but one.
Like Dopamine's replay memory, this store keeps each frame once and rebuilds stacks and n-step
targets at sample time: 1M transitions of 84x84 frames take ~7.06 GB instead of 56 GB for stored
``obs`` + ``next_obs`` stacks. The ring layout, the sampling rule and the reads are in
:mod:`rlkit.replay.frame_ring`; this module adds the writes.

Every incoming observation is checked against the stored frames: it must continue the env's last
stack, or start a new one padded the way ``padding`` says. If the env does not reset after a
``terminated`` (ale-py's ``life_loss_info=True``: a life loss ends the learner's episode, the game
goes on), the next observation equals the final one and the final-frame row becomes the first row
of the next episode, so its stacks keep the real frames the agent saw.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from rlkit.registry import register
from rlkit.replay.frame_ring import FrameRing, Padding
from rlkit.replay.n_step import check_per_env_arrays
from rlkit.replay.storage import StorageUpdate, check_obs_pair

log = logging.getLogger(__name__)

__all__ = ["FrameRing", "FrameStackStorage", "Padding"]


@register("replay/storage", "frame_stack")
class FrameStackStorage(FrameRing):
    """Single-frame circular store for frame-stacked observations; stacks rebuilt at sample time."""

    # Steps with no episode boundary (now or at the last step) whose stacks all continue take a
    # shorter path with the same result; False sends every step through the general path (tests).
    fast_steady_steps: bool = True

    # ----------------------------------------------------------------------------- writes
    def add_step(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
    ) -> StorageUpdate:
        """Record one step of all envs: obs/next_obs ``[E, *obs_shape]``, the rest ``[E]``.

        ``next_obs`` is only read where an episode ended (its newest frame becomes a final row);
        elsewhere the next call's ``obs`` supplies that frame. Everything is validated before the
        store changes, so a rejected step leaves it as it was. Steps with no episode boundary take
        :meth:`_append_continuing`, a shorter path to the same result.
        """
        obs, next_obs = np.asarray(obs), np.asarray(next_obs)
        actions, rewards = np.asarray(actions), np.asarray(rewards)
        terminated, truncated = np.asarray(terminated, dtype=bool), np.asarray(truncated, dtype=bool)
        self._check_step(obs, actions, rewards, next_obs, terminated, truncated)
        num_envs, stack = self.num_envs, self.stack
        envs, count = self._envs, self._count
        ended = terminated | truncated  # [E]

        # 1. classify each env's observation against its last stored row
        started = count > 0
        last = np.maximum(count - 1, 0)  # [E]
        last_slot = self._slot(envs, last)  # [E]
        last_final = started & self._final[last_slot]  # [E] previous step ended an episode
        flat_obs = obs.reshape(num_envs, stack, -1)  # [E, S, F]
        if self.fast_steady_steps and not ended.any() and started.all() and not last_final.any():
            # no episode boundary now or at the last step (most steps): the short path, if every stack continues
            update = self._append_continuing(flat_obs, actions, rewards, terminated, truncated, last, last_slot)
            if update is not None:
                return update
        prev = self._stacks(envs, last).reshape(num_envs, stack, -1)  # [E, S, F] garbage if not started
        # the episode goes on: obs = last stack shifted by one frame
        extend = started & ~last_final
        extend[extend] = _rows_equal(flat_obs[extend, :-1], prev[extend, 1:])
        # no reset after an episode end (e.g. a life loss): obs = the final obs, stored in the last row
        convert = last_final.copy()
        convert[convert] = _rows_equal(flat_obs[convert], prev[convert])
        fresh = ~(convert | extend)  # a new stack chain starts here
        if fresh.any():
            padded = self._is_padded(flat_obs[fresh])
            if not padded.all():
                bad = envs[fresh][~padded].tolist()
                raise ValueError(
                    f"obs of env(s) {bad} neither continues the stored stack nor starts an episode padded "
                    f"with padding={self.padding!r}; check the env's frame-stack padding and that obs is the "
                    "previous step's next_obs"
                )
            dangling = fresh & started & ~last_final
            if dangling.any():
                log.warning(
                    "env(s) %s restarted without an episode end (e.g. envs reset after a resume); "
                    "their unfinished episodes' last transitions will not be sampled",
                    envs[dangling].tolist(),
                )
        if ended.any():  # the final obs must continue this obs
            continues = _rows_equal(next_obs[ended].reshape(-1, *flat_obs.shape[1:])[:, :-1], flat_obs[ended, 1:])
            if not continues.all():
                raise ValueError(
                    f"next_obs of env(s) {envs[ended][~continues].tolist()} at an episode end is not the step's "
                    "successor: pass the real final observation (info['final_obs']), not the reset one"
                )

        # 2. transitions that lose a row they need to this step's overwrites (checked before writing)
        new_rows = (~convert).astype(np.int64) + ended  # [E] rows this step appends
        removed = self._overwritten(count + new_rows)

        # 3. write this step's row (a final row without reset becomes a regular row) and final rows
        row = np.where(convert, last, count)  # [E]
        slot = self._slot(envs, row)
        appended = ~convert
        app_slot = slot[appended]
        self._frames[app_slot] = flat_obs[appended, -1].reshape(-1, *self.frame_shape)
        self._hist[app_slot] = np.where(extend, np.minimum(self._hist[last_slot].astype(np.int64) + 1, stack - 1), 0)[
            appended
        ]
        self._link[app_slot] = extend[appended]
        self._actions[slot] = actions
        self._rewards[slot] = rewards
        self._terminated[slot] = terminated
        self._truncated[slot] = truncated
        self._final[slot] = False
        count += appended
        written_rows = [(envs[appended], row[appended])]
        if ended.any():
            env_end = envs[ended]
            final_row = count[ended]
            final_slot = self._slot(env_end, final_row)
            self._frames[final_slot] = next_obs[ended].reshape(-1, stack, *self.frame_shape)[:, -1]
            self._hist[final_slot] = np.minimum(self._hist[slot[ended]].astype(np.int64) + 1, stack - 1)
            self._link[final_slot] = True
            self._final[final_slot] = True
            self._actions[final_slot] = 0
            self._rewards[final_slot] = 0.0
            self._terminated[final_slot] = False
            self._truncated[final_slot] = False
            count[ended] += 1
            written_rows.append((env_end, final_row))

        # 4. transitions whose bootstrap row was written just now become sampleable: for a regular
        # row b only b - n (an end inside the window would have put a final row before b); for a
        # final row b, any of b - n .. b - 1 that lies in the ended episode
        env_new, boot = written_rows[0]
        env_cand, cand = [env_new], [boot - self.n_step]
        if len(written_rows) > 1:
            env_end, final_row = written_rows[1]
            back = final_row[:, None] - 1 - self._steps[None, :]  # [K, n] rows b - 1 .. b - n
            env_cand.append(np.repeat(env_end, self.n_step))
            cand.append(back.ravel())
            boot = np.concatenate([boot, np.repeat(final_row, self.n_step)])
        env_cand, cand = np.concatenate(env_cand), np.concatenate(cand)
        ok, m = self._window(env_cand, cand)
        ok &= cand + m == boot
        added = np.sort(self._slot(env_cand[ok], cand[ok]))
        self._sampleable[removed] = False
        self._sampleable[added] = True
        self._num_valid += added.size - removed.size
        return StorageUpdate(added=added, removed=removed)

    def _append_continuing(
        self,
        flat_obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
        last: np.ndarray,
        last_slot: np.ndarray,
    ) -> StorageUpdate | None:
        """``add_step`` for a step with no episode boundary now or at the last step, in fewer array
        operations (they dominate its cost); None, with the store untouched, if a stack does not
        continue its env's last one (the general path then sorts it out).

        Same result as the general path: each env appends one linked row b (slot: last slot + E),
        and the only transition that can become sampleable is row c = b - n, exactly when its
        window c .. b - 1 holds no episode end and rows c + 1 .. b are linked. Then c is no final
        row (the row after a final one is that row converted, no longer final, or an unlinked new
        chain; for n = 1, c is the last row, not final here), and its stack is still held:
        ``rows_per_env >= stack + n + 2`` keeps rows c - hist[c] .. b.
        """
        stack, num_rows = self.stack, self._sampleable.shape[0]
        hist = self._hist[last_slot]  # [E] real frames before each env's last one
        full = bool((hist == stack - 1).all())  # no padding left in any stack: rows last - S + 2 .. last
        if stack > 1:
            if full:
                prev_slots = (last_slot[:, None] - self._tail_back[None, :]) % num_rows  # [E, S - 1]
                prev = self._frames_flat[prev_slots.ravel()]  # [E * (S - 1), F]
            else:
                prev = self._stacks(self._envs, last).reshape(self.num_envs, stack, -1)[:, 1:]  # [E, S - 1, F]
            if not _rows_equal(flat_obs[:, :-1], prev.reshape(self.num_envs, stack - 1, -1)).all():
                return None
        count = self._count
        removed = self._overwritten(count + 1)
        slot = (last_slot + self.num_envs) % num_rows  # [E] row b = last + 1
        self._frames[slot] = flat_obs[:, -1].reshape(-1, *self.frame_shape)
        self._hist[slot] = stack - 1 if full else np.minimum(hist.astype(np.int64) + 1, stack - 1)
        self._link[slot] = True
        self._actions[slot] = actions
        self._rewards[slot] = rewards
        self._terminated[slot] = terminated
        self._truncated[slot] = truncated
        self._final[slot] = False
        count += 1
        window = (slot[:, None] - self._window_back[None, :]) % num_rows  # [E, n] rows c .. b - 1
        ok = (count > self.n_step) & ~(self._terminated[window] | self._truncated[window]).any(axis=1)  # c >= 0
        if self.n_step > 1:
            ok &= self._link[window[:, 1:]].all(axis=1)  # rows c + 1 .. b - 1; row b was just linked
        added = np.sort(window[ok, 0])
        self._sampleable[removed] = False
        self._sampleable[added] = True
        self._num_valid += added.size - removed.size
        return StorageUpdate(added=added, removed=removed)

    def _overwritten(self, new_count: np.ndarray) -> np.ndarray:
        """Slots of sampleable transitions that need a row the pending writes will overwrite."""
        oldest_after = new_count - self._rows_per_env  # [E]
        if not np.any(oldest_after > 0):
            return np.zeros(0, dtype=np.int64)
        # Only rows whose stack reaches back to the (up to 2) overwritten rows can lose validity.
        cand = (self._count - self._rows_per_env)[:, None] + np.arange(self.stack + 1)[None, :]  # [E, S+1]
        slot = self._slot(self._envs[:, None], cand)  # [E, S+1]
        lost = self._sampleable[slot] & (cand >= 0) & (cand - self._hist[slot] < oldest_after[:, None])
        return np.sort(slot[lost])

    def _is_padded(self, flat_obs: np.ndarray) -> np.ndarray:
        """Whether stacks ``[K, S, F]`` are one frame plus padding per ``padding``: bool [K]."""
        if self.padding == "zeros":
            return _rows_equal(flat_obs[:, :-1], np.zeros((), dtype=flat_obs.dtype))
        return _rows_equal(flat_obs[:, :-1], flat_obs[:, -1:])

    def _check_step(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
    ) -> None:
        check_obs_pair(obs, next_obs, shape=(self.num_envs, *self.obs_shape), dtype=self.obs_dtype)
        check_per_env_arrays(
            self.num_envs, actions=actions, rewards=rewards, terminated=terminated, truncated=truncated
        )

    # ------------------------------------------------------------------------------ state
    def restart_episodes(self) -> None:
        """Nothing to do: the next step's padded stacks start new chains, and the unfinished
        episodes' last transitions (no bootstrap row) simply never become sampleable."""


    def __repr__(self) -> str:
        return (
            f"FrameStackStorage(capacity={self._capacity}, num_envs={self.num_envs}, obs_shape={self.obs_shape}, "
            f"n_step={self.n_step}, padding={self.padding!r}, sampleable={self._num_valid})"
        )


def _rows_equal(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Whether ``a[k] == b[k]`` everywhere, per leading index k: bool [K] (``b`` broadcasts)."""
    return (a == b).reshape(a.shape[0], math.prod(a.shape[1:])).all(axis=1)
