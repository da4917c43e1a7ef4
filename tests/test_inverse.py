"""Inverse contracts (mmjax/env/inverse.py, the inverse branches of mmjax/env/sim_np.py and market_env.step_env).

A size is a number of contracts of V $ each; q contracts bought at P1 and sold at P2 earn
q V (1/P1 - 1/P2) coin, worth that times the mid in $. The env keeps cash in coin and marks $ PnL
as the coin PnL times the mid (docs/env.md, "Inverse contracts"). Both twins must agree and match
the formula by hand; the linear account must not change.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mmjax import schema
from mmjax.cli import main
from mmjax.data.loader import RecordingError, load_market, read_recording
from mmjax.data.tardis import TardisImportConfig, import_tardis
from mmjax.env import sim_np
from mmjax.env.knobs import EnvKnobs
from mmjax.env.market_env import make_params
from mmjax.env.reference import ReferenceMarketEnv, ReplayData
from tests.helpers.env import F_M, rollout
from tests.helpers.markets import make_market, random_market
from tests.helpers.tardis import (
    BOOK_HEADER,
    SNAPSHOT,
    TRADE_HEADER,
    brow,
    import_csv,
    trow,
    write_csv,
)

TICK, ANCHOR = 0.01, 20_000  # make_market's: tick 0 is $200
V = 2000.0  # $ per contract: 0.1 contract at $200 is 1 coin, so $ figures are O(1) as on the linear fixtures


def inverse(m, value=V):
    return m.replace(contract_type="inverse", contract_value=value)


def usd(ticks):
    return (ticks + ANCHOR) * TICK


# ---------------------------------------------------------------------------------------------
# THE RULES BY HAND (sim_np)


def test_a_round_trip_earns_the_inverse_formula():
    p = sim_np.SimParams(EnvKnobs(maker_fee_bps=0.0), TICK, ANCHOR, 0.1, 0.01, "inverse", V)
    acct = sim_np.Account(mid0=100.5)
    buy = sim_np.Fill(0.1, 100, False, lots=10)
    acct = sim_np.book_fills(acct, buy, sim_np.NO_FILL, sim_np.fill_fee(buy, sim_np.NO_FILL, p), TICK, 0.01, p.inverse)
    sell = sim_np.Fill(0.1, 150, False, lots=10)
    acct = sim_np.book_fills(acct, sim_np.NO_FILL, sell, 0.0, TICK, 0.01, p.inverse)
    assert acct.inventory_lots == 0
    coin = 0.1 * V * (1 / usd(100) - 1 / usd(150))  # 0.1 contracts bought at $201.00, sold at $201.50
    assert acct.cash == pytest.approx(coin, rel=1e-12)
    for mid in (90.5, 150.5, 400.5):  # flat: the $ PnL is the coin earned at the mark, wherever the mid is
        assert sim_np.mark(acct, mid, TICK, p.inverse).pnl == pytest.approx(coin * usd(mid), rel=1e-12)
    # a linear account of the same fills earns the price difference instead: 0.1 x $0.50
    lin = sim_np.book_fills(sim_np.book_fills(sim_np.Account(100.5), buy, sim_np.NO_FILL, 0.0, TICK, 0.01),
                            sim_np.NO_FILL, sell, 0.0, TICK, 0.01)
    assert sim_np.mark(lin, 120.5, TICK).pnl == pytest.approx(0.1 * 0.5)


def test_an_open_position_marks_at_the_inverse_value_and_fees_are_coin_on_the_notional():
    p = sim_np.SimParams(EnvKnobs(maker_fee_bps=2.0, max_offset_bps=5.0), TICK, ANCHOR, 0.1, 0.01, "inverse", V)
    buy = sim_np.Fill(0.1, 100, False, lots=10)
    fee = sim_np.fill_fee(buy, sim_np.NO_FILL, p)
    assert fee == pytest.approx(2e-4 * 0.1 * V / usd(100))  # coin: the notional 0.1 x V $ at the fill price
    acct = sim_np.book_fills(sim_np.Account(mid0=100.5), buy, sim_np.NO_FILL, fee, TICK, 0.01, p.inverse)
    marked = sim_np.mark(acct, 300.5, TICK, p.inverse)
    want_coin = 0.1 * V * (1 / usd(100) - 1 / usd(300.5)) - fee
    assert marked.pnl == pytest.approx(want_coin * usd(300.5), rel=1e-12)
    # unrealized: the open contracts' coin PnL at the mark, over the notional of the limit (max_inventory x V $)
    _, _, upnl_scaled = sim_np.account_features(marked, 300.5, 0, p)
    upnl_usd = 0.1 * V * (1 / usd(100) - 1 / usd(300.5)) * usd(300.5)
    assert upnl_scaled == pytest.approx(upnl_usd / (0.1 * V * 1e-4 * 5.0), rel=1e-12)
    # the risk terms see the coin-equivalent position q V / M
    _, risk, damp = sim_np.reward(0.0, 0.1, 3.0, 100.5, 110.5, sim_np.SimParams(
        EnvKnobs(risk_aversion=0.5, eta=1.0), TICK, ANCHOR, 0.1, 0.01, "inverse", V))
    q_coin = 0.1 * V / usd(100.5)
    assert risk == pytest.approx(0.5 * q_coin**2 * (3.0 * TICK) ** 2 * 0.1)
    assert damp == pytest.approx(q_coin * 10 * TICK)


# ---------------------------------------------------------------------------------------------
# THE TWO TWINS


@pytest.mark.parametrize(("latency", "fee_bps", "eta", "seed"), [(1, 1.5, 0.3, 5), (2, -0.5, 1.0, 6)])
def test_the_device_env_and_the_numpy_twin_agree_on_an_inverse_market(latency, fee_bps, eta, seed):
    m = inverse(random_market(T=1200, seed=seed))
    T = m.num_steps
    rng = np.random.default_rng(seed)
    feats = rng.normal(size=(T, F_M)).astype(np.float32)
    sigma = rng.uniform(1, 20, T).astype(np.float32)
    knobs = EnvKnobs(episode_steps=800, latency_steps=latency, maker_fee_bps=fee_bps, eta=eta, risk_aversion=0.05)
    t0 = 150
    acts = np.clip(rng.normal(-0.8, 0.3, (800, 2)), -1, 1).astype(np.float32)
    obs0, obs, r, info, _ = rollout(make_params(m, feats, sigma, knobs=knobs), acts, t0=t0)
    ref = ReferenceMarketEnv(ReplayData.from_market(m), feats, sigma, knobs)
    assert ref.params.inverse == sim_np.Inverse(V, ANCHOR)
    np.testing.assert_allclose(ref.reset(options={"start": t0})[0], obs0, atol=1e-6)
    rows = [ref.step(a) for a in acts]
    i_ref = {k: np.array([x[4][k] for x in rows]) for k in rows[0][4]}
    # the same fills at the same prices (integers: exact), then the money to float32 rounding
    filled = {s: info[f"{s}_fill"] > 0 for s in ("bid", "ask")}
    assert all(f.sum() > 40 for f in filled.values())
    np.testing.assert_array_equal(np.stack([i_ref["bid_fill"] > 0, i_ref["ask_fill"] > 0]), np.stack(list(filled.values())))
    for s, f in filled.items():
        np.testing.assert_array_equal(info[f"{s}_fill_px"][f], i_ref[f"{s}_fill_px"][f], err_msg=s)
    # float32 against float64: $ values are O(1) here, coin cash O(0.01)
    for k, atol in (("inventory", 1e-6), ("cash", 1e-7), ("pnl", 2e-5), ("fee", 1e-7), ("risk_penalty", 1e-6),
                    ("damp_penalty", 1e-6)):
        np.testing.assert_allclose(info[k], i_ref[k], rtol=1e-5, atol=atol, err_msg=k)
    np.testing.assert_allclose(r, np.array([x[1] for x in rows]), atol=2e-5)
    np.testing.assert_allclose(obs, np.array([x[0] for x in rows]), atol=1e-4)
    assert np.abs(info["pnl"]).max() > 0.5, "the fixture must move money"
    # the inverse account is not the linear one on the same fills
    _, _, _, lin, _ = rollout(make_params(m.replace(contract_type="linear", contract_value=0.0), feats, sigma,
                                          knobs=knobs), acts, t0=t0)
    assert not np.allclose(lin["pnl"], info["pnl"], rtol=1e-2)


def test_a_known_fill_sequence_in_both_twins_gives_the_formula():
    """Buy 0.01 contract at the bid (row 10's taker sell), the book rises 10 ticks, sell it at the ask (row 40)."""
    T, t0, E = 80, 5, 60
    bb = np.where(np.arange(T) < 30, 100, 110)
    trades = [(10, "sell", 100, 5.0), (40, "buy", 111, 5.0)]
    fee_bps = 1.0
    m = inverse(make_market(bb, depth=0.0, trades=trades))
    knobs = EnvKnobs(episode_steps=E, quote_size=0.01, max_inventory=0.01, maker_fee_bps=fee_bps)
    # bid at the touch (a one-tick spread: it joins), ask pulled until row 30, then the reverse
    acts = np.array([[-1.0, 1.0] if t0 + i < 30 else [1.0, -1.0] for i in range(E)], np.float32)
    _, _, _, info, _ = rollout(make_params(m, np.zeros((T, F_M)), np.ones(T), knobs=knobs), acts, t0=t0)
    ref = ReferenceMarketEnv(ReplayData.from_market(m), np.zeros((T, F_M)), np.ones(T), knobs)
    ref.reset(options={"start": t0})
    i_ref = [ref.step(a)[4] for a in acts]
    assert (info["bid_fill"] > 0).sum() == 1 and (info["ask_fill"] > 0).sum() == 1
    assert info["bid_fill_px"][info["bid_fill"] > 0][0] == 100 and info["ask_fill_px"][info["ask_fill"] > 0][0] == 111
    p1, p2, mid_end = usd(100), usd(111), usd(110.5)
    coin = 0.01 * V * (1 / p1 - 1 / p2) - fee_bps * 1e-4 * 0.01 * V * (1 / p1 + 1 / p2)
    assert info["inventory"][-1] == 0.0
    assert info["pnl"][-1] == pytest.approx(coin * mid_end, rel=1e-5)
    assert i_ref[-1]["pnl"] == pytest.approx(coin * mid_end, rel=1e-12)
    assert info["cash"][-1] == pytest.approx(coin, rel=1e-5)  # the account is in coin


# ---------------------------------------------------------------------------------------------
# THE CONTRACT IN THE RECORDING: METADATA, IMPORT, LOADER


def test_metadata_round_trips_the_contract_and_older_recordings_read_as_linear():
    meta = schema.RecordingMeta("binance-delivery-BTCUSD_PERP", 0.1, "contracts_100usd", lot_size=1.0,
                                contract_type="inverse", contract_value=100.0)
    assert schema.RecordingMeta.from_kv(meta.to_kv(), "f.parquet") == meta
    old = {k: v for k, v in meta.to_kv().items() if b"contract" not in k}  # written before the fields existed
    back = schema.RecordingMeta.from_kv(old, "f.parquet")
    assert back.contract_type == "linear" and back.contract_value is None and not back.inverse


@pytest.mark.parametrize(("kv", "needle"), [
    ({"contract_type": "inverse"}, "contract_type 'inverse' needs contract_value"),
    ({"contract_type": "inverse", "contract_value": "0"}, "contract_value: '0' must be a positive number"),
    ({"contract_type": "quanto"}, "contract_type 'quanto' must be one of"),
    ({"contract_type": "linear", "contract_value": "100"}, "only meaningful for contract_type 'inverse'"),
])
def test_a_bad_contract_in_the_metadata_names_the_field_and_the_file(kv, needle):
    base = schema.RecordingMeta("X", 0.1).to_kv()
    base.update({f"mmjax.{k}".encode(): v.encode() for k, v in kv.items()})
    with pytest.raises(ValueError, match="book/part-1.parquet") as err:
        schema.RecordingMeta.from_kv(base, "DIR/book/part-1.parquet")
    assert needle in str(err.value)
    with pytest.raises(ValueError, match="contract"):  # the dataclass checks itself too
        schema.RecordingMeta("X", 0.1, contract_type=kv["contract_type"],
                             contract_value=float(kv["contract_value"]) if "contract_value" in kv else None)


def coinm(rows: list[str]) -> list[str]:
    return [r.replace("binance,BTCUSDT", "binance-delivery,BTCUSD_PERP") for r in rows]


BOOK = SNAPSHOT + [brow(500, "bid", 99.9, 1)]


def test_the_tardis_import_knows_coinm_is_inverse_and_the_loader_carries_it(tmp_path):
    report, rec = import_csv(tmp_path, coinm(BOOK), coinm([trow(60, 1, "buy", 100.1, 1)]))
    assert (report.contract_type, report.contract_value, report.contract_source) == ("inverse", 100.0, "venue table")
    md, raw = load_market(rec)
    assert raw.meta.size_unit == "contracts_100usd" and raw.meta.contract_value == 100.0
    assert md.inverse and md.contract_value == 100.0
    assert ReplayData.from_market(md).contract_type == "inverse"


def test_an_unknown_venue_imports_as_linear_with_a_warning_and_the_flags_override(tmp_path):
    book = [r.replace("BTCUSDT", "XYZUSD") for r in BOOK]
    trades = [trow(60, 1, "buy", 100.1, 1).replace("BTCUSDT", "XYZUSD")]
    logs: list[str] = []
    b, t = write_csv(tmp_path / "b.csv", BOOK_HEADER, book), write_csv(tmp_path / "t.csv", TRADE_HEADER, trades)
    report = import_tardis(TardisImportConfig(book=str(b), trades=str(t), out=str(tmp_path / "lin"), levels=3), logs.append)
    assert report.contract_type == "linear" and report.contract_source == "default (venue unknown)"
    assert any("contract type of binance XYZUSD unknown" in m and "--contract-type inverse" in m for m in logs)
    assert main(["import-tardis", "--book", str(b), "--trades", str(t), "--out", str(tmp_path / "inv"), "--levels", "3",
                 "--contract-type", "inverse", "--contract-value", "10", "--quiet"]) == 0
    meta = read_recording(tmp_path / "inv").meta
    assert (meta.contract_type, meta.contract_value, meta.size_unit) == ("inverse", 10.0, "contracts_10usd")
    with pytest.raises(ValueError, match=r"binance XYZUSD \(--contract-type/--contract-value\).*needs contract_value"):
        import_csv(tmp_path / "x", book, trades, contract_type="inverse")
    with pytest.raises(ValueError, match="only meaningful for contract_type 'inverse'"):
        import_csv(tmp_path / "y", BOOK, contract_value=100.0)  # binance BTCUSDT is linear
    assert not (tmp_path / "x" / "rec").exists() and not (tmp_path / "y" / "rec").exists()  # nothing written


def test_the_loader_refuses_files_of_different_contracts(tmp_path):
    _, rec = import_csv(tmp_path, coinm(BOOK), coinm([trow(60, 1, "buy", 100.1, 1)]))
    first = sorted((rec / "book").rglob("*.parquet"))[0]
    table = pq.read_table(first)
    kv = dict(table.schema.metadata)
    kv[b"mmjax.contract_value"] = b"10.0"
    second = first.with_name("part-zz.parquet")
    ts = table.column("ts_recv_ns").to_numpy() + 10**9  # later rows, same schema
    pq.write_table(table.set_column(1, "ts_recv_ns", pa.array(ts)).replace_schema_metadata(kv), second)
    with pytest.raises(RecordingError, match="part-zz.parquet: contract_type/contract_value inverse/10.0 differ"):
        load_market(rec)


# ---------------------------------------------------------------------------------------------
# THE SHARED BINANCE COIN-M RECORDING ($100 CONTRACTS ON BTC)


@pytest.fixture(scope="module")
def coinm_market(shared_data, tmp_path_factory):
    src = shared_data / "binance-coinm-btcusd-perp-2024-08-08"
    out = tmp_path_factory.mktemp("coinm") / "rec"
    import_tardis(TardisImportConfig(book=str(src / "incremental_book_L2.csv.gz"), trades=str(src / "trades.csv.gz"),
                                     out=str(out), levels=20, quiet=True))
    return load_market(out)  # (MarketData, RawRecording)


def test_fills_on_the_coinm_recording_earn_the_inverse_formula_in_both_twins(coinm_market):
    md, _ = coinm_market
    assert md.inverse and md.contract_value == 100.0 and md.tick_size == pytest.approx(0.1) and md.lot_size == 1.0
    T, t0, E = md.num_steps, 100, 1500
    knobs = EnvKnobs(episode_steps=E, quote_size=1.0, max_inventory=10.0, maker_fee_bps=-0.5, max_offset_bps=2.0)
    acts = np.full((E, 2), -0.9, np.float32)  # improve (or join) each touch: fills on both sides, inventory that moves
    feats, sigma = np.zeros((T, F_M), np.float32), np.ones(T, np.float32)
    _, _, _, info, _ = rollout(make_params(md, feats, sigma, knobs=knobs), acts, t0=t0)
    ref = ReferenceMarketEnv(ReplayData.from_market(md), feats, sigma, knobs)
    ref.reset(options={"start": t0})
    i_ref = [ref.step(a)[4] for a in acts]
    # the fills, independently of either account: contracts s_i (+ bought) at $ P_i, then the mark at $ M
    price = lambda ticks: (np.asarray(ticks, np.float64) + md.px_anchor_ticks) * md.tick_size  # noqa: E731
    s = np.concatenate([info["bid_fill"], -info["ask_fill"]]).astype(np.float64)
    px = price(np.concatenate([info["bid_fill_px"], info["ask_fill_px"]]))
    s, px = s[s != 0], px[s != 0]
    assert len(s) > 20 and np.abs(np.cumsum(s)).max() >= 3, "the sequence must trade and carry inventory"
    q, M, V = s.sum(), price(info["mid"][-1]), 100.0
    fees_coin = -0.5e-4 * (np.abs(s) * V / px).sum()
    coin = (s * V / px).sum() - q * V / M - fees_coin  # sum of s V (1/P_i - 1/M): the contracts' coin PnL
    assert info["inventory"][-1] == pytest.approx(q)
    assert info["pnl"][-1] == pytest.approx(coin * M, rel=1e-4, abs=1e-3)
    assert i_ref[-1]["pnl"] == pytest.approx(coin * M, rel=1e-9, abs=1e-9)
    np.testing.assert_allclose(info["pnl"], [i["pnl"] for i in i_ref], rtol=1e-4, atol=1e-3)
    # the linear account of the same fills would be off by orders of magnitude ($ x contracts)
    linear = (-s * px).sum() + q * M - (-0.5e-4 * (np.abs(s) * px).sum())
    assert abs(linear - coin * M) > 10 * abs(coin * M)


def test_the_paper_trader_accounts_the_coinm_replay_as_the_twin_does(coinm_market):
    """The live path (PaperTrader over sim_np) takes the contract from the recording's metadata."""
    from tests.helpers.live import ConstQuoter, replay

    md, raw = coinm_market
    knobs = EnvKnobs(quote_size=1.0, max_inventory=10.0, maker_fee_bps=1.0, max_offset_bps=2.0)
    n = 2000  # the first n - 3 intervals of the replay (the whole recording) against the twin
    tr = replay(raw, ConstQuoter([-0.9, -0.9]), knobs)
    assert tr.params.inverse == sim_np.Inverse(100.0, md.px_anchor_ticks)
    env = ReferenceMarketEnv(ReplayData.from_market(md), np.zeros((md.num_steps, 1)), np.zeros(md.num_steps),
                             EnvKnobs(**{**vars(knobs), "episode_steps": n - 3}))
    env.reset(options={"start": 0})
    infos = [env.step(np.array([-0.9, -0.9]))[4] for _ in range(n - 3)]
    live = tr.records[1:n - 2]
    assert sum(r.bid_fill + r.ask_fill for r in live) >= 10
    np.testing.assert_array_equal([(r.bid_fill, r.ask_fill) for r in live], [(i["bid_fill"], i["ask_fill"]) for i in infos])
    np.testing.assert_array_equal([r.pnl for r in live], [i["pnl"] for i in infos])
    np.testing.assert_array_equal([r.fee for r in live], [i["fee"] for i in infos])


def test_the_live_attribution_counts_inverse_fills_by_their_coin_equivalent():
    from mmjax.live.attribution import LiveAttribution

    att = LiveAttribution(100, TICK, ANCHOR, inverse_value=V)
    att.on_row(100.5)
    fill = sim_np.Settlement(sim_np.Fill(0.1, 100, False, lots=10), sim_np.Fill(0.05, 103, False, lots=5), 0.0, 0.0)
    att.on_fills(fill, 100.5)
    m = usd(100.5)
    coin_bid, coin_ask = 0.1 * V / usd(100), 0.05 * V / usd(103)
    assert att.spread == pytest.approx(coin_bid * (m - usd(100)) + coin_ask * (usd(103) - m), rel=1e-12)
    # which is the coin the fills earned against the mid, valued at the mid
    assert att.spread == pytest.approx((0.1 * V * (1 / usd(100) - 1 / m) + 0.05 * V * (1 / m - 1 / usd(103))) * m)
