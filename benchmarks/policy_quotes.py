"""What a trained run's policy quotes on its validation episodes: deterministic (as validated) vs stochastic (as trained).

    python benchmarks/policy_quotes.py RUN_DIR [--checkpoint checkpoint_last.npz] [--seed 1]

RUN_DIR is one `mmjax train --select-on-val` run (a seed directory). Plays the run's validation episodes
(the ones selection scores) twice with the checkpoint's policy: tanh(mean), and tanh of a draw from the
Gaussian it trained with. Prints per mode: fills per episode, episode PnL with its standard error, how far
the live bid sits behind the bid touch (share of live steps per distance in ticks), and how often the live
bid's price changes between consecutive live steps (each change re-joins at the back of the queue).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from mmjax.env import build
from mmjax.ppo import distributions as dist
from mmjax.ppo.checkpoint import load_checkpoint
from mmjax.ppo.selection import standard_error
from mmjax.ppo.train import HParams, make_ppo
from mmjax.ppo.wrappers import EpisodeStats
from mmjax.runs import train_command as command
from mmjax.runs.run_dir import load_train_config


def play(ppo, params, val, stochastic: bool, seed: int) -> dict[str, np.ndarray]:
    """Per-step traces [N, T] of the validation episodes under the deterministic or the sampled policy."""
    clip = ppo.config.obs_clip

    def episode(start, key):
        p = val.pin(val.env_params, start)
        obs, st = ppo.env.reset(key, p)

        def step(carry, k):
            obs, st = carry
            mean, log_std = ppo.actor.apply(params["actor"], params["obs_norm"].normalize(obs, clip))
            a = dist.sample(k, mean, log_std)[1] if stochastic else dist.deterministic(mean)
            obs, st2, _, _, _, info = ppo.env.step(k, st, a, p)
            return (obs, st2), {"bid_touch": st.env_state.best[0], "bid_quote": info["bid_quote"],
                                "bid_live": info["bid_live"], "fills": (info["bid_fill"] > 0).astype(jnp.int32)
                                + (info["ask_fill"] > 0), "pnl": info["pnl"]}

        return jax.lax.scan(step, (obs, st), jax.random.split(key, val.num_steps))[1]

    keys = jax.random.split(jax.random.PRNGKey(seed), len(val.starts))
    return jax.device_get(jax.jit(jax.vmap(episode))(jnp.asarray(val.starts), keys))


def describe(o: dict[str, np.ndarray]) -> str:
    live = o["bid_live"].astype(bool)
    behind = (o["bid_touch"] - o["bid_quote"])[live]
    ticks, counts = np.unique(behind, return_counts=True)
    both = live[:, 1:] & live[:, :-1]
    moved = (o["bid_quote"][:, 1:] != o["bid_quote"][:, :-1]) & both
    pnl = o["pnl"][:, -1]
    share = ", ".join(f"{int(t)}: {c / counts.sum():.3f}" for t, c in zip(ticks, counts, strict=True))
    return (f"fills/episode {o['fills'].sum(1).mean():.2f}, PnL/episode {pnl.mean():+.4f} (SE {standard_error(pnl):.4f}), "
            f"bid live {live.mean():.3f} of steps; ticks behind the bid touch {{{share}}}; "
            f"bid price changes per live step {moved.sum() / max(1, both.sum()):.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--checkpoint", default="checkpoint_last.npz")
    ap.add_argument("--seed", type=int, default=1, help="key of the stochastic draws")
    args = ap.parse_args()
    cfg = load_train_config(args.run)
    market = build.load(cfg.core.data, cfg.core.env)
    train_params = market.env_params(market.splits["train"])
    ppo = make_ppo(cfg.core.ppo, EpisodeStats(build.make_env(), final_info={"mm/pnl": "pnl"}), train_params)
    template = jax.eval_shape(ppo.init, jax.random.PRNGKey(0), HParams.from_config(cfg.core.ppo), train_params)
    state, meta = load_checkpoint(args.run / args.checkpoint, template)
    params = ppo.params_out(state)
    val = command.validation_episodes(cfg, market)
    print(f"{args.run / args.checkpoint}: update {meta.get('update')}, {len(val.starts)} validation episodes, "
          f"std {np.exp(np.asarray(params['actor']['params']['log_std'])).round(3).tolist()}")
    for stochastic in (False, True):
        print(f"  {'stochastic' if stochastic else 'deterministic'}: "
              f"{describe(play(ppo, params, val, stochastic, args.seed))}")


if __name__ == "__main__":
    main()
