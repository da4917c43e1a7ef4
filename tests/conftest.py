"""Shared fixtures. Real data in ../shared/data is used only through `shared_data`, which skips cleanly."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(os.environ.get("MMJAX_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of the real recordings in ../shared/data; skips the test where they are absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (set MMJAX_SHARED_DATA); a user's machine has none")
    return SHARED_DATA
