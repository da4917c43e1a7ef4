"""A hash of a seeded JAX env rollout: proves a refactor left the env's numerics bit-identical.

    python benchmarks/rollout_hash.py [--envs 8] [--steps 3000] [--inverse]

Rolls ``envs`` envs of the built-in market (`mmjax.make()`) for ``steps`` auto-resetting steps with
seeded uniform random actions, and prints one SHA-256 over every output of every step: obs, reward,
terminated, truncated and each info key (sorted; ``final_observation`` included), as raw bytes, so a
single flipped bit anywhere changes it. ``--inverse`` replays the same market as an inverse contract
(100 $ per contract), which compiles the env's inverse account branch instead of the linear one.
Run it at two commits (``PYTHONPATH`` pointing at each) and compare the printed hashes.
"""

from __future__ import annotations

import argparse
import hashlib

import jax
import numpy as np


def rollout_hash(envs: int, steps: int, inverse: bool, seed: int = 0) -> tuple[str, dict[str, float]]:
    """(hex digest, a few sums to eyeball) of the rollout described in the module docstring."""
    import mmjax

    env, params = mmjax.make()
    if inverse:
        params = params.replace(market=params.market.replace(contract_type="inverse", contract_value=100.0))
    step = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    @jax.jit
    def run(key):
        k_reset, k_act, k_step = jax.random.split(key, 3)
        obs0, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(k_reset, envs), params)
        acts = jax.random.uniform(k_act, (steps, envs, 2), minval=-1.0, maxval=1.0)
        keys = jax.random.split(k_step, (steps, envs))

        def body(state, xs):
            k, a = xs
            obs, state, r, term, trunc, info = step(k, state, a, params)
            return state, (obs, r, term, trunc, info)

        return obs0, jax.lax.scan(body, state, (keys, acts))[1]

    obs0, (obs, r, term, trunc, info) = jax.device_get(run(jax.random.PRNGKey(seed)))
    h = hashlib.sha256()
    for name, arr in [("obs0", obs0), ("obs", obs), ("reward", r), ("terminated", term), ("truncated", trunc),
                      *sorted(info.items())]:
        arr = np.ascontiguousarray(arr)
        h.update(f"{name}:{arr.dtype}:{arr.shape};".encode())
        h.update(arr.tobytes())
    sums = {"reward": float(np.sum(r, dtype=np.float64)), "terminated": int(term.sum()),
            "fills": int((info["bid_fill"] > 0).sum() + (info["ask_fill"] > 0).sum()),
            "obs": float(np.sum(obs, dtype=np.float64))}
    return h.hexdigest(), sums


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--envs", type=int, default=8)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--inverse", action="store_true", help="the same market as an inverse contract")
    args = ap.parse_args(argv)
    digest, sums = rollout_hash(args.envs, args.steps, args.inverse, args.seed)
    kind = "inverse" if args.inverse else "linear"
    print(f"rollout {args.envs} envs x {args.steps} steps, seed {args.seed}, {kind}: sha256 {digest}")
    print("  " + ", ".join(f"{k} {v}" for k, v in sums.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
