"""`python -m recorder --out DIR [--products ...]` (or `python -m recorder DIR ...`): the flags of `mmjax record`."""

from __future__ import annotations

import sys

from recorder.client import main as record_main
from recorder.config import parse_args


def main(argv: list[str] | None = None) -> int:
    """Parse flags from the RecordConfig dataclass and record; the exit status of the session."""
    return record_main(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
