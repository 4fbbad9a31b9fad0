"""TensorBoard scalars through ``torch.utils.tensorboard.SummaryWriter`` (imported lazily)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlkit.logging.base import Logger, as_float
from rlkit.registry import register

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

_log = logging.getLogger(__name__)

INSTALL_HINT = "pip install tensorboard  (a dependency of rlkit: reinstall with pip install rlkit)"


def _summary_writer_class() -> type[SummaryWriter]:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as err:
        raise ImportError(
            f"the 'tensorboard' logger needs the tensorboard package: {INSTALL_HINT}; "
            "or disable it with logger.tensorboard.enabled=false"
        ) from err
    return SummaryWriter


@register("logger", "tensorboard")
class TensorBoardLogger(Logger):
    """Scalars (x axis: agent steps) and the config as text, under ``run_dir / subdir``.

    The event file is opened at the first call. After :meth:`load_state_dict` (a resumed run), it
    is opened with ``purge_step`` just past the last step logged before the checkpoint, so the
    events a crashed run wrote after its checkpoint are hidden instead of overlapping.
    """

    def __init__(self, *, run_dir: Path, subdir: str = "tb", flush_secs: int = 30) -> None:
        self._writer_cls = _summary_writer_class()  # fail at build time, not at the first log
        self.log_dir = Path(run_dir) / subdir
        self.flush_secs = flush_secs
        self._writer: SummaryWriter | None = None
        self._purge_step: int | None = None
        self._last_step: int | None = None
        self._closed = False

    @property
    def writer(self) -> SummaryWriter:
        """The underlying ``SummaryWriter`` (opened on first use)."""
        if self._writer is None:
            if self._closed:
                raise RuntimeError(f"TensorBoardLogger for {self.log_dir} is closed")
            self.log_dir.mkdir(parents=True, exist_ok=True)
            self._writer = self._writer_cls(
                log_dir=str(self.log_dir),
                purge_step=self._purge_step,
                flush_secs=self.flush_secs,
            )
        return self._writer

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        writer = self.writer
        for key, value in metrics.items():
            writer.add_scalar(key, as_float(key, value), global_step=int(step))
        self._last_step = int(step)

    def log_config(self, config: Mapping[str, Any]) -> None:
        text = json.dumps(config, indent=2, sort_keys=True, default=str)
        # Indented by four spaces: TensorBoard renders the text as a Markdown code block.
        self.writer.add_text("config", "\n".join("    " + line for line in text.splitlines()))

    def close(self) -> None:
        self._closed = True
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def state_dict(self) -> dict[str, Any]:
        return {} if self._last_step is None else {"last_step": self._last_step}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if "last_step" not in state:
            return
        if self._writer is not None:
            _log.warning("TensorBoard events already open; not purging steps after a resume")
            return
        self._purge_step = int(state["last_step"]) + 1
        self._last_step = int(state["last_step"])
