"""`mmjax demo`: its regimes, its --full sizes and its plain-words verdicts (mmjax/demo.py)."""

from __future__ import annotations

from mmjax.demo import FULL, DemoConfig, verdicts


def _payload(means_ci: dict[str, tuple[float, float, float]], paired: dict[str, tuple[float, float]]) -> dict:
    return {"policies": {n: {"mean_pnl": m, "pnl_ci95": [lo, hi], "map": 0.02 if n == "ppo" else 0.03}
                         for n, (m, lo, hi) in means_ci.items()},
            "paired": {f"ppo_vs_{n}": {"ci95": [lo, hi]} for n, (lo, hi) in paired.items()}}


def test_a_regime_where_nobody_profits_is_said_plainly():
    p = _payload({"ppo": (-0.1, -0.3, 0.05), "fixed": (-0.8, -1.2, -0.4)}, {"fixed": (0.2, 1.0)})
    text = verdicts([("coinbase-top", 0.0, p)])
    assert "no quoter earns a significantly positive PnL" in text and "least bad is ppo" in text
    assert "PPO beats fixed" in text and "loses to none" in text
    assert "MAP: PPO 0.0200 vs fixed 0.0300" in text
    assert "Bar (not significantly worse than any baseline): met" in text


def test_a_profitable_regime_names_who_profits_and_who_ppo_loses_to():
    p = _payload({"ppo": (0.3, 0.1, 0.5), "glft": (0.5, 0.2, 0.8)}, {"glft": (-0.4, -0.01)})
    text = verdicts([("rebate", -0.5, p)])
    assert "significantly profitable: ppo +0.300 $, glft +0.500 $" in text
    assert "PPO beats none; loses to glft" in text
    assert "Bar (beat every baseline, lower MAP than fixed): NOT met" in text
    p = _payload({"ppo": (0.3, 0.1, 0.5), "fixed": (0.1, 0.0, 0.2)}, {"fixed": (0.05, 0.3), "abstain": (0.1, 0.5)})
    assert "Bar (beat every baseline, lower MAP than fixed): met" in verdicts([("rebate", -0.5, p)])


def test_full_runs_the_bars_configuration_and_never_shrinks_a_request():
    full = DemoConfig(full=True).resolved()
    assert (full.seeds, full.episodes, full.hours) == (FULL["seeds"], FULL["episodes"], FULL["hours"])
    assert DemoConfig(full=True, episodes=1000).resolved().episodes == 1000
    assert DemoConfig().resolved() == DemoConfig()
    assert set(DemoConfig().regimes.split(",")) == {"coinbase-top", "rebate"}
