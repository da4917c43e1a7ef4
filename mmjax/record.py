"""`mmjax record`: the recorder's command. Its config and code live in recorder/ (which imports no mmjax
module but mmjax.schema); this module only names them for the `mmjax` command line."""

from __future__ import annotations

from recorder.config import RecordConfig

__all__ = ["RecordConfig", "run"]


def run(config: RecordConfig) -> int:
    """Record until stopped; the exit status (0 clean, 3 some products dropped, 1 failed)."""
    from recorder.client import main

    return main(config)
