"""`LiveAttribution`: the session's running PnL attribution, with the batch definitions, causally. No jax.

The definitions are `mmjax.env.attribution`'s, as `mmjax.evaluation.metrics.pnl_attribution` uses them.
A fill's markout at horizon h needs the mid h steps after its interval ended: until that row arrives
the fill is *open* at that horizon and is marked at the latest mid instead, which is exactly what the
batch does with a fill whose horizon runs past the end of the data (it takes the last mid). So the
totals reported at row t are ``pnl_attribution`` of the session's rows 0..t, and no later row can
change them (tests/test_live_attribution.py checks both).
"""

from __future__ import annotations

from collections import deque

from mmjax.env import attribution
from mmjax.env.sim_np import Settlement

_NEVER = 1 << 62  # a row no session reaches


class LiveAttribution:
    """Running spread captured, fees, adverse selection (1 s, 10 s) and inventory carry of one session, $."""

    def __init__(self, grid_ms: float, tick_size: float, anchor_ticks: int, inverse_value: float = 0.0):
        self.tick, self.anchor = float(tick_size), int(anchor_ticks)
        # $ per inverse contract (0: linear): fills count by their coin equivalent, as the batch does (to_traces)
        self.inverse_value = float(inverse_value)
        self.horizon_steps = attribution.markout_steps(grid_ms)  # name -> grid steps
        self.spread = 0.0  # $ summed over fills
        self.fees = 0.0  # $ paid (negative = rebate)
        self.closed = dict.fromkeys(self.horizon_steps, 0.0)  # $ adverse selection of fills marked out already
        # per horizon: fills still waiting for their markout row, oldest first: (due row, signed size, mid $)
        self._open: dict[str, deque[tuple[int, float, float]]] = {h: deque() for h in self.horizon_steps}
        self._open_size = dict.fromkeys(self.horizon_steps, 0.0)  # sum of signed sizes of the open fills
        self._open_size_mid = dict.fromkeys(self.horizon_steps, 0.0)  # sum of signed size * mid at fill, $
        self._next_due = _NEVER  # the earliest row a markout is due at (each horizon's queue is in due order)
        self.row = -1  # accepted rows so far - 1 (the batch's step index)
        self.mid = float("nan")  # $, the latest row's

    def on_row(self, mid_ticks: float) -> None:
        """Row t arrived with this mid (ticks from the anchor): the markouts due at t close at it."""
        self.row += 1
        mid = (mid_ticks + self.anchor) * self.tick  # the batch's `to_usd`, operation for operation
        self.mid = mid
        if self.row < self._next_due:
            return  # no markout is due at this row (most rows)
        for h, q in self._open.items():
            while q and q[0][0] <= self.row:
                _, s, m = q.popleft()
                self.closed[h] += float(attribution.adverse_usd(max(s, 0.0), max(-s, 0.0), m, mid))
                self._open_size[h] -= s
                self._open_size_mid[h] -= s * m
            if not q:  # no drift of the running sums once nothing is open
                self._open_size[h] = self._open_size_mid[h] = 0.0
        self._next_due = min((q[0][0] for q in self._open.values() if q), default=_NEVER)

    def on_fills(self, s: Settlement, mid_start_ticks: float) -> None:
        """The fills settled at this row, in the interval that began at mid ``mid_start_ticks`` (ticks from anchor)."""
        b, a = s.bid.size, s.ask.size
        self.fees += s.fee
        if not (b or a):
            return
        tick, anchor = self.tick, self.anchor
        m = (mid_start_ticks + anchor) * tick
        bid_px, ask_px = (s.bid.price + anchor) * tick, (s.ask.price + anchor) * tick
        if self.inverse_value:  # contracts -> coin at the fill price
            b = b * self.inverse_value / bid_px if b else 0.0
            a = a * self.inverse_value / ask_px if a else 0.0
        self.spread += float(attribution.spread_usd(b, a, bid_px, ask_px, m))
        signed = b - a
        if signed:
            for h, steps in self.horizon_steps.items():
                # the interval began at row t - 1: its markout row is (t - 1) + 1 + steps
                due = self.row + steps
                self._open[h].append((due, signed, m))
                if due < self._next_due:
                    self._next_due = due
                self._open_size[h] += signed
                self._open_size_mid[h] += signed * m

    def adverse(self, h: str) -> float:
        """Adverse selection at horizon ``h``, $: closed markouts plus the open ones at the latest mid."""
        return self.closed[h] + (self._open_size[h] * self.mid - self._open_size_mid[h] if self._open[h] else 0.0)

    def totals(self, pnl: float) -> dict[str, float]:
        """The attribution at the latest row, keyed as `pnl_attribution`, plus how many fills' markouts are open."""
        adv = {h: self.adverse(h) for h in self.horizon_steps}
        return {"spread_usd": self.spread, "fees_usd": self.fees, "adverse_1s_usd": adv["1s"],
                "adverse_10s_usd": adv["10s"], "carry_usd": attribution.carry_usd(pnl, self.spread, adv["10s"], self.fees),
                "pnl_usd": pnl, "markouts_open_1s": float(len(self._open["1s"])),
                "markouts_open_10s": float(len(self._open["10s"]))}
