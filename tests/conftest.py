"""Shared fixtures. Real data in ../shared/data is used only through `shared_data`, which skips cleanly."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers.backtest import recording  # noqa: F401 (fixture)
from tests.helpers.features import real_dirs, synth_dir  # noqa: F401 (fixtures)

SHARED_DATA = Path(os.environ.get("MMJAX_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of the real recordings in ../shared/data; skips the test where they are absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (set MMJAX_SHARED_DATA); a user's machine has none")
    return SHARED_DATA


@pytest.fixture(scope="session")
def binance_spot_dir(shared_data, tmp_path_factory) -> Path:
    """The real Binance spot capture imported once (Tardis import, default levels): its recording directory."""
    from mmjax.data import tardis

    src = shared_data / "binance-spot-btcusdt-2024-08-08"
    if not src.is_dir():
        pytest.skip(f"{src} absent")
    dst = tmp_path_factory.mktemp("binance_spot")
    tardis.import_tardis(tardis.TardisImportConfig(book=str(src / "incremental_book_L2.csv.gz"),
                                                   trades=str(src / "trades.csv.gz"), out=str(dst), quiet=True))
    return dst
