"""The true FIFO queue of benchmarks/queue_truth.py on hand-made L3 streams, and the quoter driving both venues."""

from __future__ import annotations

import numpy as np
import pytest

from mmjax.env import sim_np
from mmjax.evaluation.queue_truth import Log, TruthVenue, compare, read_orders, run_quoter

B, A = sim_np.BID, sim_np.ASK
SNAP, LAST = 32, 128


def venue(records, quote_lots=1) -> TruthVenue:
    """records: (t, action, side +1/-1/0, price ticks, size, order id, flags)."""
    cols = list(zip(*records, strict=True))
    return TruthVenue(np.array(cols[0], np.int64), list(cols[1]), np.array(cols[2]), np.array(cols[3]),
                      np.array(cols[4]), np.array(cols[5]), np.array(cols[6]), 1.0, quote_lots)


BOOK = [(0, "R", 0, 0, 0, 0, SNAP), (0, "A", 1, 100, 5, 1, SNAP), (0, "A", 1, 100, 3, 2, SNAP),
        (0, "A", -1, 101, 4, 10, SNAP | LAST)]


def test_queue_ahead_follows_the_orders_ahead_by_id():
    v = venue([*BOOK, (1, "A", 1, 100, 4, 3, LAST),  # joins behind us
               (2, "C", 1, 100, 5, 1, LAST),  # the first order ahead leaves
               (3, "M", 1, 100, 2, 2, LAST),  # a size cut keeps its place
               (4, "M", 1, 100, 5, 2, LAST),  # a size increase sends it behind us
               (5, "F", 1, 100, 2, 3, 0), (5, "C", 1, 100, 2, 3, LAST)])  # flow reaches an order behind us
    v.advance(0)
    assert not v.arrive(B, 100)
    seen = [v.queue(B)]
    for t in (1, 2, 3, 4):
        assert v.advance(t) == {B: 0, A: 0}
        seen.append(v.queue(B))
    assert seen == [(8, 8), (8, 12), (3, 7), (2, 6), (0, 9)]  # (lots ahead, level lots)
    assert v.advance(5) == {B: 1, A: 0} and v.queue(B) is None  # it reached us first: filled, gone
    assert v.fifo_breaks == 0


def test_no_fill_while_the_flow_stops_ahead_then_sweep_and_cross_fill():
    v = venue([*BOOK, (1, "F", 1, 100, 5, 1, 0), (1, "C", 1, 100, 5, 1, LAST),  # eats the order ahead: not us
               (2, "F", 1, 99, 1, 7, LAST)], quote_lots=2)  # a fill below our price: the sweep went through us
    v.advance(0)
    assert v.arrive(A, 100)  # post-only: an ask at the best bid would take liquidity: rejected
    v.arrive(B, 100)
    assert v.advance(1) == {B: 0, A: 0} and v.queue(B) == (3, 3)
    assert v.advance(2) == {B: 2, A: 0}
    v2 = venue([*BOOK, (1, "C", 1, 100, 5, 1, 0), (1, "C", 1, 100, 3, 2, LAST), (2, "A", -1, 100, 1, 11, LAST)],
               quote_lots=2)
    v2.advance(0)
    v2.arrive(B, 100)
    v2.advance(1)
    assert v2.queue(B) == (0, 0)  # alone at 100, above the displayed book
    assert v2.advance(2) == {B: 1, A: 0}  # an ask resting at our price would have traded with us: 1 of 2 lots


class FakeVenue:
    """Fills the bid the second row after it arrives; records what it was sent."""

    def __init__(self):
        self.sent, self.orders, self.age = [], {B: None, A: None}, 0

    def reset(self):
        self.orders = {B: None, A: None}

    def settle(self, s):
        self.age += 1
        filled = self.orders[B] is not None and self.age == 2
        if filled:
            self.orders[B] = None
        return {B: int(filled), A: 0}

    def arrive(self, row, side, px):
        self.sent.append((row, side, px))
        self.orders[side] = sim_np.Order(px, 1, 0) if px is not None else None
        self.age = 0
        return False

    def queue(self, row, side):
        return None if self.orders[side] is None else (0, 1)

    def live(self, side):
        return self.orders[side] is not None


def test_quoter_requotes_on_price_change_and_after_a_fill_with_latency():
    bid0, ask0 = np.array([10, 10, 10, 11, 11, 11]), np.array([12, 12, 12, 12, 12, 12])
    f = FakeVenue()
    log = run_quoter(f, 1, bid0, ask0, np.array([True, False, False, False, False, False]), None, latency_steps=1)
    # row 0 decides bid 9 / ask 13 (they arrive at row 1); the bid fills over (2, 3]; at row 3 the quoter knows
    # it is gone and the touch moved: it sends a bid at 10 (arrives at row 4); the ask rests untouched.
    assert f.sent == [(1, B, 9), (1, A, 13), (4, B, 10)]
    assert log.fills == {(B, 3): (1, 1)}  # (side, row) -> (lots, arrival row)


def test_compare_matches_orders_by_side_price_and_arrival():
    model, truth = Log(), Log()
    model.fills, truth.fills = {(B, 5): (1, 1)}, {(B, 3): (1, 1), (A, 4): (1, 2)}
    model.queue = {(B, 9, 1, 1): (10, 20), (B, 9, 1, 2): (10, 20), (A, 13, 1, 1): (4, 4)}
    truth.queue = {(B, 9, 1, 1): (10, 20), (B, 9, 1, 2): (6, 16), (A, 13, 2, 2): (0, 4)}
    c = compare(model, truth, 0.1)
    assert (c["fills_truth"], c["fills_model"], c["queue_samples"]) == (2, 1, 2)
    assert c["fill_delay_median_s_model"] == pytest.approx(0.4)
    assert c["fill_delay_median_s_truth"] == pytest.approx(0.2)
    assert c["queue_ahead_mae_lots"] == 2.0 and c["queue_ahead_mae_frac"] == pytest.approx(0.125)  # (0 + 4/16) / 2


def test_a_refresh_after_a_fill_goes_to_the_back():
    """CME icebergs: the shown lot fills, then ``M`` restores it: a size increase over what was left, so the
    order loses its place (the stream then fills orders that joined after it first)."""
    v = venue([*BOOK, (1, "F", 1, 100, 5, 1, 0), (1, "M", 1, 100, 5, 1, LAST),  # order 1 refreshes: behind us
               (2, "F", 1, 100, 1, 2, 0), (2, "M", 1, 100, 2, 2, LAST)])  # a partial fill resized: keeps its place
    v.advance(0)
    v.arrive(B, 100)
    v.advance(1)
    assert v.queue(B) == (3, 8)
    v.advance(2)
    assert v.queue(B) == (2, 7) and v.fifo_breaks == 0


def test_both_venues_on_an_imported_dbn_day(tmp_path):
    """End to end on a DBN file written here: import with the orders, load, run the touch quoter in both venues.

    An order ahead of ours cancels while one joins behind: the truth's queue ahead drops to 0, mmjax's
    stays at the level bound (3 lots); the next sell then fills ours at once in the truth, one interval
    later in mmjax (after it eats the 3 lots mmjax still thinks are ahead).
    """
    from mmjax.data.dbn import DbnImportConfig, import_dbn
    from mmjax.data.loader import load_market
    from mmjax.env.knobs import EnvKnobs
    from mmjax.env.reference import ReplayData
    from mmjax.evaluation.queue_truth import ModelVenue
    from tests.helpers.dbn import rec, write_dbn

    day = [rec(0, "A", "B", 100, 5, 1, SNAP), rec(0, "A", "B", 99, 5, 2, SNAP), rec(0, "A", "A", 101, 5, 3, SNAP),
           rec(0, "A", "A", 102, 5, 4, SNAP | LAST),
           rec(150, "C", "B", 100, 2, 1), rec(250, "A", "B", 100, 4, 5), rec(350, "C", "B", 100, 3, 1),
           rec(450, "T", "A", 100, 2, 8, 0), rec(450, "F", "B", 100, 2, 5, 0), rec(450, "C", "B", 100, 2, 5),
           rec(550, "T", "A", 100, 2, 9, 0), rec(550, "F", "B", 100, 2, 5, 0), rec(550, "C", "B", 100, 2, 5),
           rec(700, "A", "B", 98, 1, 6), rec(800, "A", "A", 103, 1, 7)]
    out = tmp_path / "rec"
    rep = import_dbn(DbnImportConfig(mbo=[str(write_dbn(tmp_path / "d.dbn", day))], out=str(out), orders=True))
    market, raw = load_market(out)
    rd = ReplayData.from_market(market)
    params = sim_np.SimParams(EnvKnobs(quote_size=1.0, max_inventory=1e9), rd.tick_size, rd.px_anchor_ticks, 0.1,
                              rd.lot_size)
    o = read_orders(out, rep.product, rd.tick_size, rd.px_anchor_ticks)
    truth_venue = TruthVenue(o["ts_recv"], o["action"], o["side"], o["px_ticks"], o["size"], o["order_id"],
                             o["flags"], params.lot, params.quote_lots)
    gap, bid0, ask0 = np.asarray(market.after_gap), rd.bid_px[:, 0], rd.ask_px[:, 0]
    model = run_quoter(ModelVenue(rd, params), 0, bid0, ask0, gap, None)
    truth = run_quoter(truth_venue, 0, bid0, ask0, gap, np.asarray(raw.ts_recv_ns))
    assert rd.num_steps == 8
    assert list(truth.fills) == [(B, 5)] and list(model.fills) == [(B, 6)]
    px100 = int(bid0[0])
    assert model.queue[(B, px100, 1, 4)] == (3, 4) and truth.queue[(B, px100, 1, 4)] == (0, 4)
    c = compare(model, truth, 0.1)
    assert (c["fills_truth"], c["fills_model"]) == (1, 1)
    assert (c["fill_delay_median_s_truth"], c["fill_delay_median_s_model"]) == pytest.approx((0.4, 0.5))
