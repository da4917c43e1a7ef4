"""Databento MBO records written by hand (rec) and as a .dbn file (write_dbn)."""

from __future__ import annotations

import databento_dbn as dbn
import pyarrow as pa

S = 1_000_000_000  # ns per second

T0 = 1_700_000_000 * S  # a whole second: grid times are T0 + k * 100 ms

ACT = {"A": dbn.Action.ADD, "C": dbn.Action.CANCEL, "M": dbn.Action.MODIFY, "R": dbn.Action.CLEAR,
       "T": dbn.Action.TRADE, "F": dbn.Action.FILL}

SIDE = {"B": dbn.Side.BID, "A": dbn.Side.ASK, "N": dbn.Side.NONE}

SNAP, LAST = dbn.F_SNAPSHOT, dbn.F_LAST


def rec(t_ms: float, action: str, side: str = "N", px: float | None = None, size: int = 0, oid: int = 0,
        flags: int = LAST, instrument: int = 42) -> bytes:
    ts = T0 + int(t_ms * 1e6)
    price = dbn.UNDEF_PRICE if px is None else round(px * 1e9)
    return bytes(dbn.MBOMsg(publisher_id=1, instrument_id=instrument, ts_event=ts - 1000, order_id=oid, price=price, size=size,
                            action=ACT[action], side=SIDE[side], ts_recv=ts, flags=flags, sequence=int(t_ms)))


def write_dbn(path, records: list[bytes], zstd: bool = True):
    meta = dbn.Metadata(dataset="TEST.MBO", start=T0, stype_in=dbn.SType.RAW_SYMBOL, stype_out=dbn.SType.INSTRUMENT_ID,
                        schema=dbn.Schema.MBO, symbols=["XYZ"])
    data = meta.encode() + b"".join(records)
    with pa.output_stream(str(path), compression="zstd" if zstd else None) as fh:
        fh.write(data)
    return path
