"""Specification of the live PnL attribution (mmjax/live/attribution.py): the batch definitions, causally.

At every row t the trader's attribution equals `mmjax.evaluation.metrics.pnl_attribution` of the
session's rows 0..t (the batch takes the last mid for a markout past the end of its data, as live takes
the latest mid for one whose row has not arrived), and rows after t never change it.
"""

from __future__ import annotations

import numpy as np
import pytest

from mmjax.env.sim_np import NO_FILL, Fill, Settlement
from mmjax.evaluation.metrics import Traces, pnl_attribution
from mmjax.live import BookEvent, PaperTrader, ReplayFeed
from mmjax.live.attribution import LiveAttribution
from tests.helpers.live import PARAMS, ConstQuoter, perturbed_after, synth_recording, with_sweeps

KEYS = ("spread_usd", "fees_usd", "adverse_1s_usd", "adverse_10s_usd", "carry_usd", "pnl_usd")
ACTION = (-0.85, -0.85)  # quotes near the touch: many fills on both sides, a few open markouts at any row


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    return with_sweeps(synth_recording(tmp_path_factory))


def run(raw, quoter=None) -> tuple[PaperTrader, list[dict]]:
    """Replay; the trader's KPIs after every accepted row."""
    tr = PaperTrader(raw.meta, quoter or ConstQuoter(ACTION), PARAMS, record_steps=True)
    kpis = []
    for ev in ReplayFeed(raw, speed=0).events():
        if isinstance(ev, BookEvent):
            if tr.on_book(ev) is not None:
                kpis.append(tr.kpis())
        else:
            tr.on_trade(ev)
    return tr, kpis


def batch_traces(raw, tr: PaperTrader, t: int) -> Traces:
    """The evaluation's `Traces` of rows 0..t of a one-segment replay (one episode, t steps), as `to_traces` builds them."""
    recs = tr.records[1:t + 1]  # the intervals (0, 1] .. (t-1, t]
    tick, anchor = raw.meta.tick_size, tr.anchor
    mids = (raw.bid_px[:t + 1, 0] + raw.ask_px[:t + 1, 0]) / 2  # [t+1] $, from the recording itself
    steps = np.arange(t)
    later = lambda h: mids[np.minimum(steps + 1 + h, t)][None]  # noqa: E731  clipped at the last row, as the batch
    arr = lambda f: np.array([[f(r) for r in recs]])  # noqa: E731
    return Traces(pnl=arr(lambda r: r.pnl), inventory=arr(lambda r: r.inventory), bid_fill=arr(lambda r: r.bid_fill),
                  ask_fill=arr(lambda r: r.ask_fill), bid_fill_px=arr(lambda r: (r.bid_fill_px + anchor) * tick),
                  ask_fill_px=arr(lambda r: (r.ask_fill_px + anchor) * tick), bid_quoted=np.ones((1, t), bool),
                  ask_quoted=np.ones((1, t), bool), fees=arr(lambda r: r.fee), mid_at_fill=mids[None, :-1],
                  mid_after_1s=later(10), mid_after_10s=later(100))


def test_the_running_attribution_is_the_batch_attribution_of_the_rows_so_far(raw):
    tr, kpis = run(raw)
    assert tr.counts["gaps"] == 0 and len(kpis) == raw.num_steps and tr.attribution.horizon_steps == {"1s": 10, "10s": 100}
    assert tr.stats.n_fills > 20 and tr.stats.fees < 0  # a rebate
    checked_open = 0
    for t in (60, 150, 299, 450, len(kpis) - 1):
        batch = pnl_attribution(batch_traces(raw, tr, t))
        live = {k: kpis[t][k] for k in KEYS}
        assert live == pytest.approx(batch, rel=1e-9, abs=1e-9), f"row {t}"
        checked_open += kpis[t]["markouts_open_10s"] > 0
        k = kpis[t]  # the parts add up to the PnL at every row
        assert k["spread_usd"] + k["adverse_10s_usd"] + k["carry_usd"] - k["fees_usd"] == pytest.approx(k["pnl"], abs=1e-12)
    assert checked_open >= 3, "the checkpoints must include fills whose 10 s markout is still open"
    final = kpis[-1]
    assert final["adverse_1s_usd"] != pytest.approx(final["adverse_10s_usd"]) and final["spread_usd"] > 0


def test_the_attribution_at_row_t_never_uses_a_later_row(raw):
    """Scrambling the book and trades after row k leaves the attribution reported at every row <= k unchanged."""
    k = 300
    _, a = run(raw)
    _, b = run(perturbed_after(raw, int(raw.ts_recv_ns[k])))
    for t in range(k + 1):
        assert {x: a[t][x] for x in KEYS} == {x: b[t][x] for x in KEYS}, f"row {t}"
    # ... while the scrambled future does change what follows (the test can fail)
    assert any(a[t]["adverse_10s_usd"] != b[t]["adverse_10s_usd"] for t in range(k + 1, len(a)))


def _bought(size: float, px_ticks: int) -> Settlement:
    return Settlement(Fill(size, px_ticks, False), NO_FILL, -0.001, 0.0)


def test_a_markout_is_marked_at_the_latest_mid_until_its_row_arrives_then_fixed():
    """500 ms grid: 1 s = 2 rows, 10 s = 20. Buy 1 at 99.5 in the interval (0, 1] that began at mid 100."""
    att = LiveAttribution(grid_ms=500, tick_size=0.5, anchor_ticks=200)  # mid 100 $ = 0 ticks from the anchor
    att.on_row(0.0)  # row 0: mid 100
    att.on_row(-1.0)  # row 1: mid 99.5, the fill settles here
    att.on_fills(_bought(1.0, -1), mid_start_ticks=0.0)
    assert att.totals(0.0)["spread_usd"] == pytest.approx(0.5) and att.fees == pytest.approx(-0.001)
    assert att.adverse("1s") == pytest.approx(-0.5)  # open: at the latest mid (99.5)
    att.on_row(-2.0)  # row 2: mid 99
    assert att.adverse("1s") == pytest.approx(-1.0) and att.totals(0.0)["markouts_open_1s"] == 1
    att.on_row(-3.0)  # row 3 = 0 + 1 + 2: the 1 s markout closes at 98.5
    assert att.adverse("1s") == pytest.approx(-1.5) and att.totals(0.0)["markouts_open_1s"] == 0
    for _ in range(10):
        att.on_row(+4.0)  # later rows move the mid: the closed 1 s markout stays, the open 10 s one follows
    assert att.adverse("1s") == pytest.approx(-1.5) and att.adverse("10s") == pytest.approx(2.0)
    t = att.totals(pnl=3.0)
    assert t["carry_usd"] == pytest.approx(3.0 - 0.5 - 2.0 - 0.001)  # PnL - spread - adverse_10s + fees


def test_a_sold_fill_counts_against_an_upward_move():
    att = LiveAttribution(grid_ms=100, tick_size=1.0, anchor_ticks=1000)
    att.on_row(0.0)
    att.on_row(0.0)
    att.on_fills(Settlement(NO_FILL, Fill(2.0, 3, False), 0.0, 0.0), mid_start_ticks=0.0)  # sold 2 at 1003, mid 1000
    att.on_row(5.0)
    assert att.spread == pytest.approx(6.0) and att.adverse("10s") == pytest.approx(-10.0)
