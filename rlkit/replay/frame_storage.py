"""Frame-deduplicating replay for stacked image observations (Mnih et al. 2015; Hessel et al. 2018).

An Atari observation is a stack of the last S frames ``[S, H, W]`` (newest last), so consecutive
observations share S - 1 frames and a transition's ``obs`` and ``next_obs`` share all but one.
Like Dopamine's replay memory, this store keeps each frame once and rebuilds stacks and n-step
targets at sample time: 1M transitions of 84x84 frames take ~7.06 GB instead of 56 GB for stored
``obs`` + ``next_obs`` stacks.

Layout. Each env owns a ring of ``L = capacity // num_envs`` rows; row ``r`` (counted per env from
0, never reset) of env ``e`` lives in slot ``(r % L) * num_envs + e``. Interleaving the envs keeps
the filled slots dense at the front, ``[0, size)``, from the first step on. A row holds the newest
frame of one observation plus the transition taken from it: action, reward (as given), terminated,
truncated. At an episode end the real final observation's newest frame gets a row of its own
(``final``, never sampled), so a truncated episode can bootstrap from it. ``hist[r]`` (0..S-1)
counts the real frames preceding row r in its stack, which are rows ``r - hist[r] .. r - 1``; the
remaining positions are padding as the env pads them (``padding``: ``zeros`` for ale-py's
``AtariVectorEnv``, ``repeat_first`` for gymnasium's ``FrameStackObservation``). ``link[r]`` says
row r is the time step right after row r - 1 (false where a new stack chain starts). RGB stacks laid
out ``[S * C, H, W]`` (frame k in channels ``[kC, (k+1)C)``) are stored per frame with
``frame_channels = C``.

Sampling slot t: ``obs`` = stack ending at row t; m = min(n, steps until the episode ends);
``rewards`` = ``sum_{k<m} gamma^k r_{t+k}``; ``discounts`` = 0 if the episode terminated at step
t + m - 1, else ``gamma^m``; ``next_obs`` = stack ending at row t + m (the final-frame row after an
episode end). A slot is sampleable once rows t .. t + m are written and while none of the rows
``t - hist[t] .. t + m`` has been overwritten.

Every incoming observation is checked against the stored frames: it must continue the env's last
stack, or start a new one padded the way ``padding`` says. If the env does not reset after a
``terminated`` (ale-py's ``life_loss_info=True``: a life loss ends the learner's episode, the game
goes on), the next observation equals the final one and the final-frame row becomes the first row
of the next episode, so its stacks keep the real frames the agent saw.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Literal

import numpy as np

from rlkit.registry import register
from rlkit.replay.n_step import check_per_env_arrays
from rlkit.replay.storage import StorageUpdate, check_obs_pair

log = logging.getLogger(__name__)

Padding = Literal["zeros", "repeat_first"]
_PADDINGS = ("zeros", "repeat_first")
_ARRAYS = ("frames", "actions", "rewards", "terminated", "truncated", "final", "link", "hist", "sampleable")


@register("replay/storage", "frame_stack")
class FrameStackStorage:
    """Single-frame circular store for frame-stacked observations; stacks rebuilt at sample time."""

    # Steps with no episode boundary (now or at the last step) whose stacks all continue take a
    # shorter path with the same result; False sends every step through the general path (tests).
    fast_steady_steps: bool = True

    def __init__(
        self,
        *,
        capacity: int,
        obs_shape: tuple[int, ...],
        obs_dtype: str | np.dtype = "uint8",
        num_envs: int,
        n_step: int,
        gamma: float,
        padding: Padding = "zeros",
        frame_channels: int = 1,
    ) -> None:
        self._capacity = int(capacity)
        self.obs_shape = tuple(int(d) for d in obs_shape)
        self.obs_dtype = np.dtype(obs_dtype)
        self.num_envs = int(num_envs)
        self.n_step = int(n_step)
        self.gamma = float(gamma)
        if len(self.obs_shape) < 2:
            raise ValueError(
                f"frame_stack storage needs stacked frames [S, H, W, ...], got obs_shape {self.obs_shape}; "
                "use replay/storage=circular for vector observations"
            )
        if padding not in _PADDINGS:
            raise ValueError(f"padding must be one of {_PADDINGS}, got {padding!r}")
        if self.num_envs < 1 or self.n_step < 1:
            raise ValueError(f"num_envs and n_step must be >= 1, got {self.num_envs} and {self.n_step}")
        if not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"gamma must lie in [0, 1], got {self.gamma}")
        frame_channels = int(frame_channels)
        if frame_channels < 1 or self.obs_shape[0] % frame_channels:
            raise ValueError(
                f"frame_channels {frame_channels} must be >= 1 and divide obs_shape[0] = {self.obs_shape[0]}"
            )
        self.padding: Padding = padding
        self.frame_channels = frame_channels
        self.stack = self.obs_shape[0] // frame_channels  # S
        # one frame: [H, W] for grayscale stacks [S, H, W]; [C, H, W] for stacks laid out [S * C, H, W]
        self.frame_shape = self.obs_shape[1:] if frame_channels == 1 else (frame_channels, *self.obs_shape[1:])
        self._rows_per_env = self._capacity // self.num_envs  # L
        min_rows = self.stack + self.n_step + 2  # one transition's stack, window and final row
        if self._rows_per_env < min_rows:
            raise ValueError(
                f"capacity {self._capacity} gives {self._rows_per_env} rows per env for {self.num_envs} envs; "
                f"stack {self.stack} and n_step {self.n_step} need at least {min_rows}"
            )
        if self._capacity % self.num_envs:
            log.info(
                "frame_stack: capacity %d is not a multiple of num_envs %d; the last %d slots stay unused",
                self._capacity,
                self.num_envs,
                self._capacity % self.num_envs,
            )
        rows = self._rows_per_env * self.num_envs
        # np.zeros maps untouched pages lazily: a partly filled store costs what it holds.
        self._frames = np.zeros((rows, *self.frame_shape), dtype=self.obs_dtype)  # [R, H, W] newest frame
        self._frames_flat = self._frames.reshape(rows, -1)  # [R, F] view for gathers
        self._actions = np.zeros(rows, dtype=np.int32)  # [R]
        self._rewards = np.zeros(rows, dtype=np.float32)  # [R] as given
        self._terminated = np.zeros(rows, dtype=bool)  # [R]
        self._truncated = np.zeros(rows, dtype=bool)  # [R]
        self._final = np.zeros(rows, dtype=bool)  # [R] holds only an episode's final frame
        self._link = np.zeros(rows, dtype=bool)  # [R] row r follows row r - 1 in time
        self._hist = np.zeros(rows, dtype=np.uint8)  # [R] real frames before this one in its stack
        self._sampleable = np.zeros(rows, dtype=bool)  # [R] kept in step with the reported added/removed
        self._count = np.zeros(self.num_envs, dtype=np.int64)  # [E] rows ever written per env
        self._num_valid = 0
        self._lags = np.arange(self.stack - 1, -1, -1, dtype=np.int64)  # [S] rows back, newest last
        self._steps = np.arange(self.n_step, dtype=np.int64)  # [n]
        self._gamma_pow = self.gamma ** np.arange(self.n_step + 1, dtype=np.float64)  # [n + 1]
        self._envs = np.arange(self.num_envs, dtype=np.int64)  # [E]
        # slot offsets back from a row's slot (mod rows): rows r - S + 2 .. r and rows r - n .. r - 1
        self._tail_back = self._lags[1:] * self.num_envs  # [S - 1]
        self._window_back = (self.n_step - self._steps) * self.num_envs  # [n]

    # ------------------------------------------------------------------------------ sizes
    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def size(self) -> int:
        """Slots ``[0, size)`` may hold transitions: ``num_envs`` x the fullest env's rows."""
        return int(min(self._count.max(), self._rows_per_env)) * self.num_envs

    @property
    def rows_per_env(self) -> int:
        """L: rows in each env's ring."""
        return self._rows_per_env

    @property
    def rows_written(self) -> np.ndarray:
        """Rows ever written per env (int64 [E]), final-frame rows included."""
        return self._count.copy()

    @property
    def nbytes(self) -> int:
        """Bytes held by the store's arrays (frames dominate: capacity x H x W for uint8)."""
        return sum(getattr(self, f"_{name}").nbytes for name in _ARRAYS) + self._count.nbytes

    def __len__(self) -> int:
        """Number of sampleable transitions."""
        return self._num_valid

    # ------------------------------------------------------------------------- addressing
    def _slot(self, env: np.ndarray, row: np.ndarray) -> np.ndarray:
        """Slot of absolute row ``row`` of env ``env`` (broadcasting; any integer row)."""
        return (row % self._rows_per_env) * self.num_envs + env

    def _locate(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(env, absolute row, written) of each slot; row is the latest one stored there."""
        indices = np.asarray(indices)
        if not np.issubdtype(indices.dtype, np.integer):
            raise TypeError(f"indices must be integers, got dtype {indices.dtype}")
        indices = indices.astype(np.int64, copy=False).ravel()  # [K]
        inside = (indices >= 0) & (indices < self._rows_per_env * self.num_envs)
        safe = np.where(inside, indices, 0)
        env, pos = safe % self.num_envs, safe // self.num_envs  # [K], [K]
        count = self._count[env]
        written = inside & (pos < count)
        row = pos + self._rows_per_env * ((count - 1 - pos) // self._rows_per_env)  # latest row at pos
        return env, row, written

    def _window_length(self, env: np.ndarray, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(m, rows t .. t + n - 1 [K, n]): m = min(n, steps to the episode end) for rows ``row [K]``.

        Rows past the true window may be stale or unwritten; the first end is always a real one
        for a transition whose window is complete.
        """
        rows = row[:, None] + self._steps[None, :]  # [K, n]
        slots = self._slot(env[:, None], rows)  # [K, n]
        ended = self._terminated[slots] | self._truncated[slots]  # [K, n]
        return np.where(ended.any(axis=1), ended.argmax(axis=1) + 1, self.n_step), rows

    def _window(self, env: np.ndarray, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(sampleable, m) for absolute rows ``row [K]`` of envs ``env [K]``, from first principles."""
        count = self._count[env]  # [K]
        oldest = count - self._rows_per_env  # [K] oldest row still held
        present = (row >= np.maximum(oldest, 0)) & (row < count)
        slot = self._slot(env, row)  # [K]
        ok = present & ~self._final[slot] & (row - self._hist[slot] >= oldest)
        m, rows = self._window_length(env, row)  # [K], [K, n]
        next_rows = rows + 1  # [K, n] rows t + 1 .. t + n
        need = self._steps[None, :] < m[:, None]  # [K, n] rows t + 1 .. t + m
        have = (next_rows < count[:, None]) & self._link[self._slot(env[:, None], next_rows)]
        ok &= np.all(have | ~need, axis=1)
        return ok, m

    def _stacks(self, env: np.ndarray, row: np.ndarray) -> np.ndarray:
        """Observation stacks ending at rows ``row [K]``: [K, S, *frame_shape], padded per ``padding``."""
        hist = self._hist[self._slot(env, row)].astype(np.int64)  # [K]
        lags = np.minimum(self._lags[None, :], hist[:, None])  # [K, S]; repeat_first pads with row - hist
        slots = self._slot(env[:, None], row[:, None] - lags).ravel()  # [K * S]
        frames = self._frames_flat[slots]  # [K * S, F]; a 2-D gather copies rows ~2x faster than N-D
        if self.padding == "zeros" and self.stack > 1:
            frames[(self._lags[None, :] > hist[:, None]).ravel()] = 0
        return frames.reshape(row.shape[0], self.stack, *self.frame_shape)

    # ----------------------------------------------------------------------------- public
    def valid(self, indices: np.ndarray) -> np.ndarray:
        """Whether each slot holds a sampleable transition now (bool, shape of ``indices``)."""
        indices = np.asarray(indices)
        if not np.issubdtype(indices.dtype, np.integer):
            raise TypeError(f"indices must be integers, got dtype {indices.dtype}")
        inside = (indices >= 0) & (indices < self._sampleable.shape[0])
        return inside & self._sampleable[np.where(inside, indices, 0)]

    def get(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        """Transitions at sampleable slots ``indices [B]``, stacks and n-step targets rebuilt."""
        ok = self.valid(indices)
        if not ok.all():
            bad = np.asarray(indices).ravel()[~ok.ravel()]
            raise IndexError(f"slots {bad[:8].tolist()} hold no sampleable transition (check valid() first)")
        env, row, _ = self._locate(indices)
        slot = self._slot(env, row)  # [B]
        m, rows = self._window_length(env, row)  # [B], [B, n]
        rewards = self._rewards[self._slot(env[:, None], rows)]  # [B, n]
        in_window = self._steps[None, :] < m[:, None]  # [B, n]
        returns = np.where(in_window, rewards, 0.0) @ self._gamma_pow[: self.n_step]  # [B]
        terminated = self._terminated[self._slot(env, row + m - 1)]  # [B] last step of the window
        return {
            "obs": self._stacks(env, row).reshape(-1, *self.obs_shape),  # [B, *obs_shape]
            "actions": self._actions[slot].astype(np.int64),  # [B]
            "rewards": returns.astype(np.float32),  # [B]
            "next_obs": self._stacks(env, row + m).reshape(-1, *self.obs_shape),  # [B, *obs_shape]
            "discounts": np.where(terminated, 0.0, self._gamma_pow[m]).astype(np.float32),  # [B]
        }

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

    def state_dict(self) -> dict[str, Any]:
        """The raw arrays as views (write them out, e.g. with ``np.save``, before adding more)."""
        state: dict[str, Any] = {name: getattr(self, f"_{name}") for name in _ARRAYS}
        state.update(
            capacity=self._capacity,
            obs_shape=self.obs_shape,
            obs_dtype=self.obs_dtype.name,
            num_envs=self.num_envs,
            n_step=self.n_step,
            gamma=self.gamma,
            padding=self.padding,
            count=self._count.copy(),
        )
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        mine = (
            self._capacity,
            self.obs_shape,
            self.obs_dtype.name,
            self.num_envs,
            self.n_step,
            self.gamma,
            self.padding,
        )
        theirs = (
            int(state["capacity"]),
            tuple(int(d) for d in state["obs_shape"]),
            str(state["obs_dtype"]),
            int(state["num_envs"]),
            int(state["n_step"]),
            float(state["gamma"]),
            str(state["padding"]),
        )
        if mine != theirs:
            raise ValueError(
                "state is for (capacity, obs_shape, obs_dtype, num_envs, n_step, gamma, padding) = "
                f"{theirs}; this storage has {mine}"
            )
        for name in (*_ARRAYS, "count"):
            target = getattr(self, f"_{name}")
            if np.shape(state[name]) != target.shape:
                raise ValueError(f"state array {name!r} has shape {np.shape(state[name])}, expected {target.shape}")
        for name in _ARRAYS:
            np.copyto(getattr(self, f"_{name}"), state[name], casting="same_kind")
        self._count[:] = state["count"]
        self._num_valid = int(np.count_nonzero(self._sampleable))

    def __repr__(self) -> str:
        return (
            f"FrameStackStorage(capacity={self._capacity}, num_envs={self.num_envs}, obs_shape={self.obs_shape}, "
            f"n_step={self.n_step}, padding={self.padding!r}, sampleable={self._num_valid})"
        )


def _rows_equal(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Whether ``a[k] == b[k]`` everywhere, per leading index k: bool [K] (``b`` broadcasts)."""
    return (a == b).reshape(a.shape[0], math.prod(a.shape[1:])).all(axis=1)
