"""Databento DBN market-by-order files -> checked records, streamed (the official `databento-dbn` decoder).

A file is read in 1 MiB chunks (zstd detected from its magic bytes), so memory stays flat on a long day.
Every MBO record is checked here, and a bad one raises `DbnFormatError` naming the file, the record's
index (0-based, counted after the metadata header) and the field. Records of other types (symbol
mappings, system and status messages) are counted and passed on; an instrument definition gives the tick.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import databento_dbn as dbn

from mmjax.outputs import UserError

CHUNK_BYTES = 1 << 20
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
PRICE_SCALE = 1e9  # DBN prices are integers of 1e-9 quote units: price = integer / PRICE_SCALE (exactly rounded)
ACTIONS = frozenset("ACMRTFN")  # add, cancel, modify, clear, trade, fill, none
BOOK_SIDES = {"B": 1, "A": -1}  # bid, ask (dbn_book.BID / ASK)
SIDES = {"B": 1, "A": -1, "N": 0}


class DbnFormatError(UserError):
    """Bad DBN input: the message names the file, and the record index and field where known."""


class Mbo(NamedTuple):
    """One checked MBO record in plain Python values."""

    index: int  # 0-based record index in its file (after the metadata header)
    ts_recv: int  # ns UTC, capture clock
    ts_event: int  # ns UTC, matching-engine clock
    action: str  # one of ACTIONS
    side: int  # +1 bid (or a buy aggressor on T), -1 ask (a sell aggressor), 0 none
    price: int  # 1e-9 units; dbn.UNDEF_PRICE where undefined
    size: int
    order_id: int
    flags: int
    sequence: int
    instrument_id: int


def _char(value) -> str:
    """An Action/Side enum or the raw character the decoder gives for a value it does not know."""
    return str(getattr(value, "value", value))


def read_metadata(path: Path) -> dbn.Metadata:
    """The file's metadata header alone (checks that the file is DBN and its schema MBO)."""
    for item in _decoded(path):
        return item
    raise DbnFormatError(f"{path}: empty file")


def _decoded(path: Path) -> Iterator:
    if not path.is_file():
        raise DbnFormatError(f"{path}: no such file")
    with open(path, "rb") as fh:
        head = fh.read(4)
        fh.seek(0)
        compression = dbn.Compression.ZSTD if head == ZSTD_MAGIC else dbn.Compression.NONE
        dec = dbn.DBNDecoder(compression=compression, upgrade_policy=dbn.VersionUpgradePolicy.UPGRADE_TO_V3)
        first, n = True, -1
        while chunk := fh.read(CHUNK_BYTES):
            try:
                dec.write(chunk)
                items = dec.decode()
            except (dbn.DBNError, ValueError, OSError) as exc:
                raise DbnFormatError(f"{path}: cannot decode after record {n}: {exc}") from None
            for item in items:
                if first:
                    first = False
                    if not isinstance(item, dbn.Metadata):
                        raise DbnFormatError(f"{path}: no DBN metadata header")
                    if str(item.schema) != "mbo":
                        raise DbnFormatError(f"{path}: metadata field 'schema': {item.schema} (import-dbn reads mbo)")
                else:
                    n += 1
                yield item
        if first:
            raise DbnFormatError(f"{path}: not a DBN file (no metadata header)")
        left = dec.buffer()
        if left:
            raise DbnFormatError(f"{path}: record {n + 1}: truncated ({len(left)} bytes after the last whole record)")


def records(path: Path) -> Iterator[Mbo | object]:
    """Every record after the metadata: checked `Mbo` tuples, other record types as decoded."""
    items = _decoded(path)
    next(items)  # the metadata
    for index, r in enumerate(items):
        if not isinstance(r, dbn.MBOMsg):
            yield r
            continue
        action, side = _char(r.action), _char(r.side)
        if action not in ACTIONS:
            raise DbnFormatError(f"{path}: record {index}, field 'action': {action!r} is not a DBN MBO action")
        if side not in SIDES:
            raise DbnFormatError(f"{path}: record {index}, field 'side': {side!r} is not B, A or N")
        rec = Mbo(index, r.ts_recv, r.ts_event, action, SIDES[side], r.price, r.size, r.order_id, r.flags,
                  r.sequence, r.instrument_id)
        if action in "ACMTF" and rec.price == dbn.UNDEF_PRICE and action != "C":
            raise DbnFormatError(f"{path}: record {index}, field 'price': undefined on a {action!r} record")
        if action in "AM" and side == "N":
            raise DbnFormatError(f"{path}: record {index}, field 'side': {side!r} on a {action!r} record (needs B or A)")
        if action in "ATF" and rec.size <= 0:
            raise DbnFormatError(f"{path}: record {index}, field 'size': {rec.size} on a {action!r} record (must be > 0)")
        if action in "AM" and rec.price <= 0:
            raise DbnFormatError(f"{path}: record {index}, field 'price': {rec.price} on a {action!r} record (must be > 0)")
        yield rec


def file_symbol(meta: dbn.Metadata) -> str:
    """The file's symbol: the one raw symbol requested (else its mapping's), '' when none is named."""
    symbols = list(meta.symbols or [])
    return symbols[0] if len(symbols) == 1 else ""
