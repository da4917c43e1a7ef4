"""Where a recording's part files are: the hive partitions (product=, date=) of each dataset, and the rule
that every date holds both datasets (a date with one and not the other is a part file lost)."""

from __future__ import annotations

import datetime
from pathlib import Path

from mmjax import schema
from mmjax.data.raw import RecordingError


def partition_files(root: Path, dataset: str, product: str | None, start: str | None, end: str | None):
    """(product, its Parquet files of ``dataset`` in [start, end]): RecordingError naming what is missing."""
    base = root / dataset
    if not base.is_dir():
        raise RecordingError(f"{base}: no {dataset!r} dataset (expected {base}/product=.../date=.../*.parquet)")
    products = sorted(p.name.split("=", 1)[1] for p in base.glob("product=*") if p.is_dir())
    if not products:
        raise RecordingError(f"{base}: no product=... partitions")
    if product is None:
        if len(products) > 1:
            raise RecordingError(f"{base}: several products {products}; choose one with product=")
        product = products[0]
    elif product not in products:
        raise RecordingError(f"{base}: product {product!r} not found; have {products}")
    files = []
    for ddir in sorted((base / f"product={product}").glob("date=*")):
        date = ddir.name.split("=", 1)[1]
        if (start and date < start) or (end and date > end):
            continue
        files += sorted(ddir.glob("*.parquet"))
    if not files:
        raise RecordingError(f"{base}/product={product}: no Parquet files in date range [{start}, {end}]")
    return product, files


def check_date(flag: str, date: str | None) -> None:
    """RecordingError unless ``date`` is None or a real calendar date written YYYY-MM-DD."""
    if date is None:
        return
    try:
        ok = datetime.date.fromisoformat(date).isoformat() == date
    except ValueError:
        ok = False
    if not ok:
        raise RecordingError(f"{flag} {date!r}: not a calendar date YYYY-MM-DD (e.g. 2026-01-05)")


def _dates(files: list[Path]) -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {}
    for f in files:
        out.setdefault(f.parent.name.split("=", 1)[1], []).append(f)
    return out


def check_dates_paired(root: Path, product: str, book_files: list[Path], start: str | None, end: str | None) -> list[Path]:
    """The trades files; RecordingError naming the date and the dataset it lacks unless every date has both.

    The rule: a recording either has no trades dataset at all (a book-only recording: the load report
    says ``trade_files: 0``), or every date holds both datasets; a quiet date has a trades file of 0
    rows (the Tardis import writes one). A date with one dataset and not the other is a part file lost."""
    try:
        _, trade_files = partition_files(root, schema.TRADES_DIR, product, start, end)
    except RecordingError:
        trade_files = []
    book_dates, trade_dates = _dates(book_files), _dates(trade_files)
    if not (root / schema.TRADES_DIR / f"product={product}").is_dir():
        return []  # book only
    for date in sorted(set(book_dates) | set(trade_dates)):
        lacks = [name for name, have in ((schema.BOOK_DIR, book_dates), (schema.TRADES_DIR, trade_dates)) if date not in have]
        if lacks:
            has = schema.BOOK_DIR if lacks[0] == schema.TRADES_DIR else schema.TRADES_DIR
            raise RecordingError(f"{root / lacks[0]}/product={product}/date={date}: missing; date {date} has {has} "
                                 f"but no {lacks[0]} part file (lost or never written); restore it, or leave the date "
                                 "out with --start-date/--end-date")
    return trade_files
