"""Stop signals: SIGTERM/SIGINT/SIGUSR1/SIGUSR2 ask a run to checkpoint and stop."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

log = logging.getLogger(__name__)

# SIGUSR2 is what submitit sends before a SLURM time limit; its own handler (requeue) runs after the checkpoint.
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGUSR1", "SIGUSR2") if hasattr(signal, name)
)
_DEFAULT_HANDLERS = (signal.SIG_DFL, signal.SIG_IGN, signal.default_int_handler, None)


class Preempted(Exception):
    """The run stopped on a signal after writing a checkpoint; exit with :attr:`exit_code`."""

    def __init__(self, signum: int, checkpoint: Path | None) -> None:
        self.signum = signum
        self.checkpoint = checkpoint
        self.exit_code = 128 + signum  # the shell's convention: 130 SIGINT, 138 SIGUSR1, 143 SIGTERM
        name = signal.Signals(signum).name
        super().__init__(f"stopped by {name}; checkpoint: {checkpoint}; exit status {self.exit_code}")


class StopSignals:
    """Records the first stop signal while :meth:`installed`; a second one aborts at once."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous_handlers: dict[int, Any] = {}

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Handle the stop signals inside the block (main thread only), then restore the old handlers."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, _frame: Any) -> None:
            if self.received is not None:
                raise KeyboardInterrupt(f"second signal ({signal.Signals(signum).name}): aborting")
            self.received = signum
            log.warning(
                "%s received: finishing this step, writing a checkpoint and exiting (send again to abort)",
                signal.Signals(signum).name,
            )

        previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
        self._previous_handlers = previous
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)

    def stop(self, checkpoint: Path) -> NoReturn:
        """After the stop checkpoint: hand the signal to a handler installed before ours (submitit's
        requeue on SIGUSR2), then stop with :class:`Preempted` if that handler returned."""
        signum = int(self.received)
        previous = self._previous_handlers.get(signum)
        if callable(previous) and previous not in _DEFAULT_HANDLERS:
            log.info("passing %s on to the handler installed before rlkit's", signal.Signals(signum).name)
            previous(signum, None)
        raise Preempted(signum, checkpoint)
