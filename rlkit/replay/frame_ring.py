"""Per-env rings of single frames behind :class:`~rlkit.replay.frame_storage.FrameStackStorage`:
layout, addressing, sample-time reads and state (the writes live in :mod:`rlkit.replay.frame_storage`).

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
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    from rlkit.replay.device_frames import DeviceFrames

log = logging.getLogger(__name__)

Padding = Literal["zeros", "repeat_first"]
_PADDINGS = ("zeros", "repeat_first")
_ARRAYS = ("frames", "actions", "rewards", "terminated", "truncated", "final", "link", "hist", "sampleable")


class FrameRing:
    """Per-env rings of single frames with each row's transition fields; rebuilds stacks and n-step targets.

    Holds everything but the writes: :class:`~rlkit.replay.frame_storage.FrameStackStorage` adds them.
    """

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

    def _stack_slots(self, env: np.ndarray, row: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Frame slots of the stacks ending at rows ``row [K]``: ``[K * S]``, and the positions that
        are zero padding (``[K * S]`` bool, or None when the env pads by repeating a frame)."""
        hist = self._hist[self._slot(env, row)].astype(np.int64)  # [K]
        lags = np.minimum(self._lags[None, :], hist[:, None])  # [K, S]; repeat_first pads with row - hist
        slots = self._slot(env[:, None], row[:, None] - lags).ravel()  # [K * S]
        padded = (self._lags[None, :] > hist[:, None]).ravel() if self.padding == "zeros" and self.stack > 1 else None
        return slots, padded

    def _stacks(self, env: np.ndarray, row: np.ndarray) -> np.ndarray:
        """Observation stacks ending at rows ``row [K]``: [K, S, *frame_shape], padded per ``padding``."""
        slots, padded = self._stack_slots(env, row)
        frames = self._frames_flat[slots]  # [K * S, F]; a 2-D gather copies rows ~2x faster than N-D
        if padded is not None:
            frames[padded] = 0
        return frames.reshape(row.shape[0], self.stack, *self.frame_shape)

    # ----------------------------------------------------------------------------- public
    def valid(self, indices: np.ndarray) -> np.ndarray:
        """Whether each slot holds a sampleable transition now (bool, shape of ``indices``)."""
        indices = np.asarray(indices)
        if not np.issubdtype(indices.dtype, np.integer):
            raise TypeError(f"indices must be integers, got dtype {indices.dtype}")
        inside = (indices >= 0) & (indices < self._sampleable.shape[0])
        return inside & self._sampleable[np.where(inside, indices, 0)]

    def get(self, indices: np.ndarray, *, device_frames: DeviceFrames | None = None) -> dict[str, Any]:
        """Transitions at sampleable slots ``indices [B]``, stacks and n-step targets rebuilt; with
        ``device_frames`` (in sync with this store) ``obs``/``next_obs`` are gathered there, as tensors."""
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
        if device_frames is None:
            obs, next_obs = self._stacks(env, row), self._stacks(env, row + m)
        else:
            shape = (-1, *self.obs_shape)
            obs, next_obs = (device_frames.stacks(*self._stack_slots(env, end), shape) for end in (row, row + m))
        return {
            "obs": obs.reshape(-1, *self.obs_shape),  # [B, *obs_shape]
            "actions": self._actions[slot].astype(np.int64),  # [B]
            "rewards": returns.astype(np.float32),  # [B]
            "next_obs": next_obs.reshape(-1, *self.obs_shape),  # [B, *obs_shape]
            "discounts": np.where(terminated, 0.0, self._gamma_pow[m]).astype(np.float32),  # [B]
        }

    # ------------------------------------------------------------------------------ state
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
