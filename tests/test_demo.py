"""`mmjax demo`: its regimes, its --full sizes and its plain-words verdicts (mmjax/demo.py)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from mmjax import demo
from mmjax.demo import FULL, DemoConfig, market_knobs, plan, verdicts
from mmjax.env.knobs import EnvKnobs, EnvOverrides


def _payload(means_ci: dict[str, tuple[float, float, float]], paired: dict[str, tuple[float, float]]) -> dict:
    return {"policies": {n: {"mean_pnl": m, "pnl_ci95": [lo, hi], "map": 0.02 if n == "ppo" else 0.03}
                         for n, (m, lo, hi) in means_ci.items()},
            "paired": {f"ppo_vs_{n}": {"ci95": [lo, hi]} for n, (lo, hi) in paired.items()}}


def test_a_regime_where_nobody_profits_is_said_plainly():
    p = _payload({"ppo": (-0.1, -0.3, 0.05), "fixed": (-0.8, -1.2, -0.4)}, {"fixed": (0.2, 1.0)})
    text = verdicts([("builtin-btc", "coinbase-top", 0.0, p)])
    assert "no quoter earns a significantly positive PnL" in text and "least bad is ppo" in text
    assert "PPO beats fixed" in text and "loses to none" in text
    assert "MAP: PPO 0.0200 vs fixed 0.0300" in text
    assert "Bar (not significantly worse than any baseline): met" in text


def test_a_profitable_regime_names_who_profits_and_who_ppo_loses_to():
    p = _payload({"ppo": (0.3, 0.1, 0.5), "glft": (0.5, 0.2, 0.8)}, {"glft": (-0.4, -0.01)})
    text = verdicts([("builtin-btc", "rebate", -0.5, p)])
    assert "significantly profitable: ppo +0.300 $, glft +0.500 $" in text
    assert "PPO beats none; loses to glft" in text
    assert "Bar (beat every baseline, lower MAP than fixed): NOT met" in text
    p = _payload({"ppo": (0.3, 0.1, 0.5), "fixed": (0.1, 0.0, 0.2)}, {"fixed": (0.05, 0.3), "abstain": (0.1, 0.5)})
    assert "Bar (beat every baseline, lower MAP than fixed): met" in verdicts([("builtin-btc", "rebate", -0.5, p)])


def test_the_map_in_the_verdict_pools_every_ppo_seed_not_seed_0_alone():
    p = _payload({"ppo": (0.3, 0.1, 0.5), "ppo_seed1": (0.3, 0.1, 0.5), "fixed": (0.1, 0.0, 0.2)},
                 {"fixed": (0.05, 0.3)})
    p["policies"]["ppo_seed1"]["map"] = 0.05  # seed 0 holds 0.02 < fixed's 0.03, the pool 0.035 > it
    text = verdicts([("large-tick", "rebate", -0.5, p)])
    assert "MAP: PPO 0.0350 pooled over 2 seeds (0.0200 to 0.0500) vs fixed 0.0300" in text
    assert "Bar (beat every baseline, lower MAP than fixed): NOT met" in text


def test_full_runs_the_bars_configuration_and_never_shrinks_a_request():
    full = DemoConfig(full=True).resolved()
    assert (full.seeds, full.episodes, full.hours) == (FULL["seeds"], FULL["episodes"], FULL["hours"])
    assert full.val_episodes == FULL["val_episodes"] == 144  # checkpoints chosen on the whole validation split
    assert demo.train_config(full, "d", 0.0, "o", "large-tick").val_episodes == 144
    assert DemoConfig(full=True, episodes=1000).resolved().episodes == 1000
    # the quick pass trains less to stay near 10 minutes; --full trains the bar's 5 M steps, or more if asked
    assert DemoConfig().ppo.total_timesteps < full.ppo.total_timesteps == FULL["total_timesteps"] == 5_000_000
    more = DemoConfig(full=True, ppo=dataclasses.replace(demo.DEMO_PPO, total_timesteps=10_000_000)).resolved()
    assert more.ppo.total_timesteps == 10_000_000
    assert DemoConfig().resolved() == DemoConfig()
    assert set(DemoConfig().regimes.split(",")) == {"coinbase-top", "rebate"}
    assert set(DemoConfig().markets.split(",")) == {"builtin-btc", "large-tick"}


def test_the_quick_pass_runs_each_market_at_the_rebate_and_says_so_while_full_runs_every_pair():
    pairs, left = plan(DemoConfig())
    assert pairs == [("builtin-btc", -0.5), ("large-tick", -0.5)]
    assert left == [("builtin-btc", 0.0), ("large-tick", 0.0)]
    pairs, left = plan(DemoConfig(full=True).resolved())
    assert len(pairs) == 4 and left == []
    assert plan(DemoConfig(regimes="coinbase-top"))[0] == [("builtin-btc", 0.0), ("large-tick", 0.0)]  # as asked
    with pytest.raises(ValueError, match="--markets is empty"):
        plan(DemoConfig(markets=" "))


def test_each_market_brings_its_env_knobs_from_its_preset():
    btc = market_knobs("builtin-btc", -0.5, DemoConfig())
    # the BTC market keeps the demo's earlier knobs: default sizes, a 2 bps range
    assert btc == dataclasses.replace(EnvKnobs(), episode_steps=600, max_offset_bps=2.0, maker_fee_bps=-0.5, eta=0.5)
    lt = market_knobs("large-tick", 0.0, DemoConfig())
    # a few ticks of ~11 bps, quotes in shares (the preset's size unit) far below the ~17k-share touch
    assert 20 <= lt.max_offset_bps <= 60 and lt.quote_size >= 100 and lt.max_inventory >= 5 * lt.quote_size
    assert market_knobs("large-tick", 0.0, DemoConfig(env=EnvOverrides(max_offset_bps=50.0))).max_offset_bps == 50.0


def test_a_preset_with_a_bad_env_knob_is_named_with_its_file_and_field(tmp_path, monkeypatch):
    from mmjax.market import params as synth_params

    (tmp_path / "odd.json").write_text(json.dumps({"_env": {"quote_sz": 1.0}}))
    monkeypatch.setattr(synth_params, "PRESETS_DIR", tmp_path)
    with pytest.raises(ValueError, match=r"odd\.json: field '_env\.quote_sz' is not an env knob"):
        market_knobs("odd", 0.0, DemoConfig())
    (tmp_path / "odd.json").write_text(json.dumps({"_env": {"quote_size": "big"}}))
    with pytest.raises(ValueError, match=r"odd\.json: field '_env' must be an object of numbers"):
        market_knobs("odd", 0.0, DemoConfig())


def test_on_the_large_tick_market_the_bar_is_to_beat_every_baseline_at_zero_fee_too():
    p = _payload({"ppo": (0.3, 0.1, 0.5), "fixed": (0.1, 0.0, 0.2)}, {"fixed": (0.05, 0.3), "abstain": (-0.1, 0.5)})
    assert "Bar (beat every baseline, lower MAP than fixed): NOT met" in verdicts([("large-tick", "coinbase-top", 0.0, p)])
    assert "Bar (not significantly worse than any baseline): met" in verdicts([("builtin-btc", "coinbase-top", 0.0, p)])
    assert "market large-tick, regime coinbase-top (0 bps)" in verdicts([("large-tick", "coinbase-top", 0.0, p)])
    assert demo.BEAT_ALL_MARKETS == ("large-tick",)


def test_the_fee_comes_from_the_regimes_not_from_a_knob_flag():
    from mmjax.outputs import UserError

    with pytest.raises(UserError, match="give --regimes"):
        DemoConfig(env=EnvOverrides(maker_fee_bps=1.5))


def test_a_teacher_and_its_weight_go_together():
    from mmjax.outputs import UserError
    from mmjax.ppo.config import PPOConfig

    with pytest.raises(UserError, match="--teacher 'glft' and --bc-coef 0"):
        DemoConfig(teacher="glft")
    with pytest.raises(UserError, match="--bc-coef 1"):
        DemoConfig(ppo=dataclasses.replace(demo.DEMO_PPO, bc_coef=1.0))
    assert DemoConfig(teacher="glft", ppo=PPOConfig(bc_coef=1.0)).teacher == "glft"


def test_an_unknown_teacher_is_refused_before_any_work(tmp_path):
    from mmjax.outputs import UserError
    from mmjax.ppo.config import PPOConfig

    with pytest.raises(UserError, match="--teacher 'abstain': choose one of fixed, avellaneda_stoikov"):
        DemoConfig(out=str(tmp_path / "o"), teacher="abstain", ppo=PPOConfig(bc_coef=1.0))
    assert not (tmp_path / "o").exists()


def test_the_demos_teacher_reaches_its_train_config():
    from mmjax.ppo.config import PPOConfig

    cfg = DemoConfig(teacher="glft", ppo=dataclasses.replace(demo.DEMO_PPO, bc_coef=10.0))
    assert demo.train_config(cfg, "d", 0.0, "o", "large-tick").teacher == "glft"  # its `mmjax train` line too
    assert demo.train_config(DemoConfig(), "d", 0.0, "o").teacher == ""
    assert PPOConfig().bc_coef == 0.0
