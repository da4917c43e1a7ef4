"""Tardis CSV rows written by hand, and their import."""

from __future__ import annotations

import gzip
from pathlib import Path

from mmjax.data.tardis import (
    TardisImportConfig,
    import_tardis,
)

BOOK_HEADER = "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount"

TRADE_HEADER = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount"

T0 = 1_700_000_000_000_000  # us, on the 100 ms grid

MS = 1000  # us


def write_csv(path: Path, header: str, rows: list[str]) -> Path:
    text = "\n".join([header, *rows]) + "\n"
    if path.suffix == ".gz":
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def brow(lt_ms: float, side: str, px: float, amt: float, snap: bool = False, sym: str = "BTCUSDT",
         ex_ms: float | None = None) -> str:
    """One book CSV row; exchange clock ``ex_ms`` (default 1 ms before the receive clock)."""
    lt = T0 + int(lt_ms * MS)
    ex = lt - MS if ex_ms is None else T0 + int(ex_ms * MS)
    return f"binance,{sym},{ex},{lt},{'true' if snap else 'false'},{side},{px},{amt}"


def trow(lt_ms: float, tid: int, side: str, px: float, amt: float) -> str:
    lt = T0 + int(lt_ms * MS)
    return f"binance,BTCUSDT,{lt - MS},{lt},{tid},{side},{px},{amt}"

SNAPSHOT = [  # at 50 ms
    brow(50, "bid", 100.0, 1, True), brow(50, "bid", 99.9, 2, True), brow(50, "bid", 99.5, 3, True),
    brow(50, "ask", 100.1, 1, True), brow(50, "ask", 100.3, 2, True),
]


def import_csv(tmp_path: Path, book: list[str], trades: list[str] | None = None, gz: bool = False, **kw):
    tmp_path.mkdir(parents=True, exist_ok=True)
    ext = ".csv.gz" if gz else ".csv"
    b = write_csv(tmp_path / f"book{ext}", BOOK_HEADER, book)
    t = write_csv(tmp_path / f"trades{ext}", TRADE_HEADER, trades if trades is not None else [trow(60, 1, "buy", 100.1, 0.5)])
    cfg = TardisImportConfig(book=str(b), trades=str(t), out=str(tmp_path / "rec"), **{"levels": 3, **kw})
    report = import_tardis(cfg)
    return report, tmp_path / "rec"
