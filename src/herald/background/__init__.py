"""Background work beside delivery: recover/replay jobs and retention, in short batches."""

from herald.background.jobs import JobRunner
from herald.background.retention import RetentionSweeper

__all__ = ["JobRunner", "RetentionSweeper"]
