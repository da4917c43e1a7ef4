"""Sharding the env batch over 4 (forced host) devices gives the 1-device result to float tolerance."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent("""
    import json, jax, numpy as np, gymnax
    from mmjax.ppo import PPOConfig, make_train
    assert jax.local_device_count() == 4, jax.devices()
    env, ep = gymnax.make("Pendulum-v1")
    base = dict(total_timesteps=16 * 16 * 3, num_envs=16, num_steps=16, num_minibatches=2, update_epochs=2,
                hidden_sizes="32,32")
    one = jax.jit(make_train(PPOConfig(**base, num_devices=1), env, ep))(jax.random.PRNGKey(3))
    four = jax.jit(make_train(PPOConfig(**base, num_devices=4), env, ep))(jax.random.PRNGKey(3))
    diffs = [float(np.max(np.abs(np.asarray(a) - np.asarray(b)) / (1e-3 + np.abs(np.asarray(a)))))
             for a, b in zip(jax.tree.leaves(one["params"]), jax.tree.leaves(four["params"]))]
    print(json.dumps({"max_rel_diff": max(diffs),
                      "obs_devices": len(four["state"].obs.sharding.device_set),
                      "identical": all(d == 0 for d in diffs)}))
""")


def test_four_devices_match_one_device():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    res = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["obs_devices"] == 4  # the env batch really is sharded
    assert out["max_rel_diff"] < 1e-3, out
