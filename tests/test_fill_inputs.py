"""The fill rules' inputs (mmjax/data/fill_inputs.py, mmjax/env/depth.py) on real Binance data.

Every fill the device rules give from the per-interval trade reach equals an event-by-event match
of every raw trade against the quote, at every traded price of every interval (and one tick either
side of it), within 10 bp of the mid; the stored depth returns every raw level's exact lots.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmjax.data import fill_inputs as fi
from mmjax.data.layout import NO_PRICE
from mmjax.data.loader import read_recording, to_market_data
from mmjax.env import depth, fills
from tests.helpers.loader import GRID_NS, T0_NS, book_arrays, trades_arrays, write

REAL = ("binance-spot-btcusdt-2024-08-08", "binance-coinm-btcusd-perp-2024-08-08")
LEVELS = 200  # stored book levels per side in these imports (the default import keeps 20)
RANGE_BPS = 10.0  # the default action range


@pytest.fixture(scope="module", params=REAL)
def real(request, shared_data, tmp_path_factory):
    """One Tardis capture imported with LEVELS levels: (raw recording, MarketData)."""
    from mmjax.data import tardis

    src = shared_data / request.param
    if not src.is_dir():
        pytest.skip(f"{src} absent")
    dst = tmp_path_factory.mktemp(request.param)
    tardis.import_tardis(tardis.TardisImportConfig(
        book=str(src / "incremental_book_L2.csv.gz"), trades=str(src / "trades.csv.gz"), out=str(dst),
        levels=LEVELS, quiet=True))
    raw = read_recording(dst)
    return raw, to_market_data(raw)


def event_by_event(p: int, queue: int, rem: int, px: np.ndarray, lots: np.ndarray) -> int:
    """Fill of one resting order at oriented price p over one interval, matching its raw trades one by one.

    px, lots: the interval's trades against that side in exchange order (oriented ticks, lots).
    A trade beyond p means the venue had emptied p's level first, our order included.
    """
    filled = 0
    for x, v in zip(px.tolist(), lots.tolist(), strict=True):
        if x < p:
            return rem
        if x == p:
            eaten = min(v, queue)
            queue -= eaten
            filled = min(rem, filled + v - eaten)
        if filled == rem:
            break
    return filled


def test_every_fill_matches_an_event_by_event_match_of_the_raw_trades(real):
    raw, md = real
    tick, anchor, lot = md.tick_size, md.px_anchor_ticks, md.lot_size
    step, use = fi.fill_intervals(raw)
    tpx = np.rint(raw.trade_px / tick).astype(np.int64) - anchor
    tlots = np.rint(raw.trade_sz / lot).astype(np.int64)
    mid = np.asarray(md.mid, np.float64)
    rng = np.random.default_rng(0)
    typical = int(np.median(tlots))
    queries = []  # (interval, side, oriented p, queue lots, remaining lots, expected fill lots)
    for side, taker, sign in ((0, -1, 1), (1, 1, -1)):
        m = use & (raw.trade_side == taker)
        order = np.lexsort((raw.trade_ts_exchange_ns[m], step[m]))  # by interval, then exchange time
        s, opx, olots = step[m][order], sign * tpx[m][order], tlots[m][order]
        bounds = np.flatnonzero(np.r_[True, s[1:] != s[:-1], True])
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            t = int(s[a])
            ticks_per_bp = (mid[t] + anchor) * 1e-4
            for p in np.unique(np.r_[opx[a:b], opx[a:b] - 1, opx[a:b] + 1]):
                if abs(sign * p - mid[t]) > RANGE_BPS * ticks_per_bp:
                    continue
                for queue, rem in ((0, typical), (int(rng.integers(0, 4 * typical + 1)), typical),
                                   (fills.UNSEEN_QUEUE, 10 * typical)):
                    want = event_by_event(int(p), queue, rem, opx[a:b], olots[a:b])
                    queries.append((t, side, int(p), queue, rem, want))
    q = np.array(queries, np.int64)
    n = len(q)
    reach_px, reach_lots = (np.asarray(a) for a in (md.reach_px, md.reach_lots))

    def on_side(x, side):  # [n] values on the query's side, NO_ORDER elsewhere
        return np.where(np.arange(2)[None] == side[:, None], x[:, None], 0)

    o = fills.Orders(px=jnp.asarray(np.where(np.arange(2)[None] == q[:, 1:2], q[:, 2:3], fills.NO_ORDER_PX), jnp.int32),
                     remaining=jnp.asarray(on_side(q[:, 4], q[:, 1]), jnp.int32),
                     queue_ahead=jnp.asarray(on_side(q[:, 3], q[:, 1]), jnp.int32), beyond=jnp.zeros((n, 2), bool))
    far = jnp.full((n, 2), 2**29, jnp.int32)  # no crossing: this test is about the trades
    _, fill, kind = jax.jit(fills.settle)(o, jnp.asarray(reach_px[q[:, 0]]), jnp.asarray(reach_lots[q[:, 0]]),
                                          far, far)
    got = np.asarray(fill)[np.arange(n), q[:, 1]]
    np.testing.assert_array_equal(got, q[:, 5])
    kinds = np.asarray(kind)[np.arange(n), q[:, 1]]
    assert (kinds == fills.FILL_THROUGH).sum() > 1000 and (kinds == fills.FILL_QUEUE).sum() > 100
    # the eight price slots per side the features keep would lose deep prints: the reach does not
    slot_px, slot_lots = md.replace(reach_px=None, reach_lots=None).trade_reach()
    _, fill_slots, _ = fills.settle(o, jnp.asarray(slot_px[q[:, 0]]), jnp.asarray(slot_lots[q[:, 0]]), far, far)
    assert (np.asarray(fill_slots)[np.arange(n), q[:, 1]] != q[:, 5]).sum() > 0


def test_the_stored_depth_returns_every_raw_level_exactly(real):
    raw, md = real
    book_px, book_lots = md.depth()
    packed = {k: jnp.asarray(v) for k, v in depth.pack_depth(book_px, book_lots).items()}
    look = jax.jit(jax.vmap(lambda r, p: depth.lookup(packed["blocks"], r, packed["fences"][r], packed["limit"][r], p)))
    rows = np.random.default_rng(1).choice(md.num_steps, 200, replace=False)
    K = book_px.shape[-1]
    for k in range(0, K, 7):
        lots_at, within = look(jnp.asarray(rows), jnp.asarray(book_px[rows, :, k]))
        raw_sz = np.stack([raw.bid_sz[rows, k], raw.ask_sz[rows, k]], axis=1)
        np.testing.assert_array_equal(np.asarray(lots_at), np.rint(raw_sz / md.lot_size).astype(np.int64))
        assert np.asarray(within).all()
    full = book_lots[rows, :, -1] > 0  # rows whose every stored level is quoted: beyond them is unknown
    _, within = look(jnp.asarray(rows), jnp.asarray(book_px[rows, :, -1] - 1))
    np.testing.assert_array_equal(np.asarray(within), ~full)
    assert full.any()


def test_a_print_the_book_already_shows_fills_in_the_interval_ending_at_that_row(tmp_path):
    book = book_arrays(12)  # row k stamped with exchange time T0 + k * grid - 1 us
    e = T0_NS + 4 * GRID_NS - 50_000_000  # the trade happened 50 ms before row 4: row 4 shows it
    # a print received at once (in (3, 4]), then the one at e received 350 ms late, as a batched feed
    # delivers it: in (6, 7] on the receive clock
    tr = trades_arrays([e + 21_000_000, e + 350_000_000], [99.98, 99.99], [0.25, 0.5], [-1, -1])
    tr["ts_exchange_ns"] = np.array([e + 20_000_000, e])
    write(tmp_path, book, tr)
    raw = read_recording(tmp_path)
    step, use = fi.fill_intervals(raw)
    assert use.all() and step.tolist() == [3, 3]  # not (6, 7]: row 4 already reflected the late print
    assert raw.trade_step().tolist() == [3, 6] and raw.report.trades_on_exchange_clock == 1
    md = to_market_data(raw)
    reach = np.asarray(md.reach_px)
    assert reach[3, 0] == 9998 - md.px_anchor_ticks and (reach[[4, 5, 6], 0] == NO_PRICE).all()
    assert float(np.asarray(md.sell_vol)[6]) == 0.5  # the features still see it when it was received


def test_no_real_trade_fills_after_the_book_row_that_reflects_it_nor_before_it_was_received(real):
    raw, _ = real
    step, use = fi.fill_intervals(raw)
    shown = np.maximum.accumulate(raw.ts_exchange_ns)
    assert use.mean() > 0.99
    # the row that opens the trade's interval does not reflect it yet; the one that closes it may
    assert (shown[step[use]] < raw.trade_ts_exchange_ns[use]).all()
    assert (step[use] <= raw.trade_step()[use]).all()  # never later than received: no decision saw it
    assert raw.report.trades_on_exchange_clock > 0
