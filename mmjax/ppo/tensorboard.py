"""Optional TensorBoard output of the runner's metric rows, through tensorboardX (no TensorFlow needed).

Scalars keep the names of metrics.jsonl, which are CleanRL's (``charts/episodic_return``, ``charts/SPS``,
``losses/value_loss``, ``losses/approx_kl``, ...), and are indexed by ``global_step`` (env steps), as in
CleanRL. View with ``tensorboard --logdir DIR``.
"""

from __future__ import annotations

from pathlib import Path

INSTALL_HINT = "pip install 'mmjax[tensorboard]' (or: pip install tensorboardX)"


class TensorBoardWriter:
    """Writes metric rows ({"update", "global_step", name: float | None}) as TensorBoard scalars."""

    def __init__(self, logdir: str | Path, resume_after_step: int | None = None):
        try:
            from tensorboardX import SummaryWriter
        except ImportError as e:
            raise ImportError(f"--tensorboard {logdir}: TensorBoard output needs tensorboardX, which is not "
                              f"installed; {INSTALL_HINT}") from e
        # On resume, purge events a crashed run wrote after its last checkpoint (those updates are redone).
        purge = None if resume_after_step is None else resume_after_step + 1
        self._writer = SummaryWriter(logdir=str(logdir), purge_step=purge)

    def write(self, rows: list[dict]) -> None:
        """One scalar per metric per row; null metrics (no episode ended) are skipped; flushed to disk."""
        for row in rows:
            step = int(row["global_step"])
            for name, value in row.items():
                if name not in ("update", "global_step") and value is not None:
                    self._writer.add_scalar(name, float(value), step)
        self._writer.flush()

    def close(self) -> None:
        """Flush and close the event file."""
        self._writer.close()
