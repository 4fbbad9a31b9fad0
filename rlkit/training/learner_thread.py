"""The learner in a thread beside the acting loop (``train.learner_thread=true``).

The synchronous loop (the default and the exact reference) runs the learner's update cycles
between env steps, so the envs and the actor wait for every update. Here the acting loop hands
each vector step's due update cycles to a learner thread and goes on acting: the emulator, the
forward passes that choose actions and the replay inserts overlap the updates (torch releases the
GIL inside its kernels). This pays where the learner does not already keep every core busy: a GPU
learner beside a CPU actor, or one torch thread per side on a CPU.

What stays as in the synchronous loop: the update-to-data schedule (the same cycles at the same
agent steps, counted by the actor), the target network's schedule, epsilon, replay contents.

Policy lag, stated: the actor may run ahead of the learner by at most ``train.learner_max_lag``
update cycles. It acts with a copy of the online network that the learner refreshes after every
cycle, so an action lacks at most ``learner_max_lag`` cycles of updates that the synchronous
loop's action would have had; batches may hold transitions up to that many cycles newer. With
``learner_max_lag=0`` the actor waits for each cycle: the synchronous loop's results, computed in a
thread (tested bit for bit: DQN, Rainbow, IQN, and with pipelined acting).

Not deterministic for ``learner_max_lag >= 1``: which transitions a batch can draw depends on how
far the actor got. Logs, evaluations and checkpoints first wait for the learner (:meth:`drain`),
so a checkpoint is as consistent as the synchronous loop's; a resumed run is a valid continuation,
not a bit-exact one.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class LearnerThread:
    """Runs ``work(step, cycles)`` for each submitted vector step, in order, in one daemon thread.

    ``work`` runs the ``cycles`` update cycles due at agent step ``step`` and publishes the new weights
    to the actor. :meth:`submit` returns once at most ``max_lag`` submitted cycles are unfinished (a
    vector step's cycles finish together, when ``work`` returns). An exception raised by ``work`` stops
    the thread and is raised again in the caller's thread by the next :meth:`submit` or :meth:`drain` (once).
    """

    def __init__(self, work: Callable[[int, int], None], *, max_lag: int) -> None:
        if max_lag < 0:
            raise ValueError(f"train.learner_max_lag must be >= 0, got {max_lag}")
        self.max_lag = max_lag
        self._work = work
        self._cond = threading.Condition()
        self._queue: deque[tuple[int, int]] = deque()  # (agent step, cycles) not started yet
        self._queued = self._running = 0  # cycles queued / in work()
        self._error: BaseException | None = None
        self._closed = False
        self._busy_s = self._wait_s = 0.0  # time in work() / the actor's time waiting in submit(), since take_times()
        self._since = time.perf_counter()
        self._thread = threading.Thread(target=self._serve, name="rlkit-learner", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        """Submitted cycles not finished yet (queued or running)."""
        with self._cond:
            return self._queued + self._running

    def submit(self, step: int, cycles: int) -> None:
        """Queue ``cycles`` update cycles due at agent step ``step``; wait while more than ``max_lag`` are unfinished."""
        with self._cond:
            self._raise_error()
            if self._closed:
                raise RuntimeError("the learner thread is closed")
            self._queue.append((step, cycles))
            self._queued += cycles
            self._cond.notify_all()
            start = time.perf_counter()
            self._cond.wait_for(lambda: self._error is not None or self._queued + self._running <= self.max_lag)
            self._wait_s += time.perf_counter() - start
            self._raise_error()

    def drain(self) -> None:
        """Wait until every submitted cycle has run (and its weights reached the actor)."""
        with self._cond:
            self._cond.wait_for(lambda: self._error is not None or self._queued + self._running == 0)
            self._raise_error()

    def take_times(self) -> dict[str, float]:
        """Shares of the wall time since the last call that the learner worked and the actor waited for it
        (which side bounds the run: the learner if it is busy ~1, the actor if it never waits)."""
        with self._cond:
            now = time.perf_counter()
            wall = max(now - self._since, 1e-9)
            shares = {"learner/busy_share": self._busy_s / wall, "learner/actor_wait_share": self._wait_s / wall}
            self._busy_s = self._wait_s = 0.0
            self._since = now
        return shares

    def close(self) -> None:
        """Stop the thread after the item it is running; queued items are dropped. Idempotent."""
        with self._cond:
            self._closed = True
            self._queue.clear()
            self._queued = 0
            self._cond.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join()

    def _raise_error(self) -> None:
        error, self._error = self._error, None
        if error is not None:
            self._closed = True
            raise error

    def _serve(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._closed or bool(self._queue))
                if self._closed:
                    return
                step, cycles = self._queue.popleft()
                self._queued -= cycles
                self._running = cycles
            start = time.perf_counter()
            try:
                self._work(step, cycles)
            except BaseException as err:  # noqa: BLE001 - handed to the acting thread, which raises it
                with self._cond:
                    self._error, self._running, self._closed = err, 0, True
                    self._queue.clear()
                    self._queued = 0
                    self._cond.notify_all()
                return
            with self._cond:
                self._running = 0
                self._busy_s += time.perf_counter() - start
                self._cond.notify_all()


__all__ = ["LearnerThread"]
