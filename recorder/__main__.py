"""`python -m recorder OUT [--products ...]`: the same flags as `mmjax record`."""

from __future__ import annotations

import argparse
import sys

from mmjax.cli import add_config_arguments, config_from_args
from mmjax.record import RecordConfig
from recorder.client import main as record_main


def main(argv: list[str] | None = None) -> int:
    """Parse flags from the RecordConfig dataclass and record."""
    parser = argparse.ArgumentParser(prog="python -m recorder", description=RecordConfig.__doc__.splitlines()[0])
    add_config_arguments(parser, RecordConfig)
    return record_main(config_from_args(RecordConfig, parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
