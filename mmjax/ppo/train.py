"""`make_train(config, env, env_params)` -> pure `train(rng)`: the whole PPO run as one jittable function.

Static config (shapes, counts, network structure) is closed over; traced hyperparameters live in
`HParams` and env params are an argument, so `jax.vmap` over seeds, learning rates or env parameters
works: ``jax.jit(jax.vmap(train))(jax.random.split(key, n))``.

Multi-device: with ``num_devices > 1`` the env batch axis is sharded over a 1-D `Mesh` of local devices
(`NamedSharding`); the program is the single-device program, partitioned by XLA, so per-device gradient
partial sums are all-reduced (averaged) and the result matches one device to float tolerance.
Minibatches take a random subset of *time steps from every env*, so shuffling never moves data across
devices.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from mmjax.outputs import UserError
from mmjax.ppo import distributions as dist
from mmjax.ppo.config import PPOConfig
from mmjax.ppo.gae import gae
from mmjax.ppo.networks import Actor, Critic, ObsNorm
from mmjax.ppo.normalize import RewardNorm
from mmjax.ppo.wrappers import EpisodeStats, RescaleAction

# optax >= 0.2.5 has optax.tree.norm and deprecates optax.global_norm; both are the global L2 norm.
_tree_norm = getattr(getattr(optax, "tree", None), "norm", None) or optax.global_norm

# Metrics of every update; the episode metrics (`PPO.episode_metrics`) come on top, from the EpisodeStats wrapper.
METRIC_NAMES = (
    "losses/policy_loss", "losses/value_loss", "losses/entropy", "losses/approx_kl", "losses/clipfrac",
    "losses/explained_variance", "losses/grad_norm", "charts/learning_rate", "charts/episodes",
    "charts/mean_reward", "charts/reward_divisor", "policy/std", "losses/bc",
)
# a teacher's action as a behaviour-cloning target is kept inside the open interval tanh can reach (a pull, 1.0,
# becomes 0.95: still above any pull threshold below it, with a finite mean to learn)
BC_TARGET_MAX = 0.95


@struct.dataclass
class HParams:
    """Traced (vmappable) hyperparameters, float32 scalars."""

    lr: jax.Array
    gamma: jax.Array
    gae_lambda: jax.Array
    clip_eps: jax.Array
    ent_coef: jax.Array
    vf_coef: jax.Array
    max_grad_norm: jax.Array
    reward_scale: jax.Array
    bc_coef: jax.Array
    bc_anneal_frac: jax.Array

    @classmethod
    def from_config(cls, config: PPOConfig) -> HParams:
        """The config's traced fields as float32 arrays."""
        return cls(**{f: jnp.asarray(getattr(config, f), jnp.float32) for f in cls.__dataclass_fields__})


@struct.dataclass
class TrainState:
    """Everything a run needs to continue bit-exactly: saved whole in checkpoints."""

    params: dict  # {"actor": ..., "critic": ...}
    opt_state: Any
    obs_norm: ObsNorm
    reward_norm: RewardNorm  # running discounted-return statistics (updated even when normalize_reward is off)
    env_state: Any  # [E, ...] leaves (EpisodeStatsState: the wrapped env's state plus episode accumulators)
    obs: jax.Array  # [E, D] raw observation to act on next
    rng: jax.Array  # [2] uint32 PRNG key
    update: jax.Array  # [] int32 updates done
    noise: jax.Array | None = None  # [E, A] the last step's standardized exploration noise (noise_corr > 0 only)


class Transition(NamedTuple):
    obs: jax.Array  # [T, E, D] raw
    u: jax.Array  # [T, E, A] pre-tanh action
    reward: jax.Array  # [T, E] raw reward
    terminated: jax.Array  # [T, E] bool
    truncated: jax.Array  # [T, E] bool
    final_obs: jax.Array  # [T, E, D] raw pre-reset obs after the step
    teacher: jax.Array | None = None  # [T, E, A] the teacher's action on the state acted on (with a teacher only)
    prev_noise: jax.Array | None = None  # [T, E, A] the noise the draw was conditioned on (noise_corr > 0 only)


class PPO(NamedTuple):
    """The pieces of a PPO run, all pure: `init`, one `update`, `run` n updates, `params_out`."""

    config: PPOConfig
    env: RescaleAction  # over EpisodeStats over the user's env
    env_params: Any
    actor: Actor
    critic: Critic
    obs_dim: int
    action_dim: int
    mesh: Mesh | None
    episode_metrics: tuple[str, ...]  # names in info["episode"], averaged over the episodes ending in a rollout
    # (user env state, env params) -> [A] action in [-1, 1]: the behaviour-cloning target (config.bc_coef); None = none
    teacher: Callable[[Any, Any], jax.Array] | None = None

    def lr_at(self, hp: HParams, count) -> jax.Array:
        """The learning-rate schedule: the rate of gradient step `count` (0-based), linearly decayed to 0 over
        all steps when anneal_lr; the one place it is written (the optimizer and the logged rate use it)."""
        c = self.config
        total = c.num_updates * c.update_epochs * c.num_minibatches
        frac = 1.0 - count / total if c.anneal_lr else 1.0
        return hp.lr * jnp.maximum(frac, 0.0)

    def optimizer(self, hp: HParams) -> optax.GradientTransformation:
        """Global-norm clip then Adam with (optionally) linearly decaying learning rate (`lr_at`)."""
        return optax.chain(optax.clip_by_global_norm(hp.max_grad_norm),
                           optax.adam(lambda count: self.lr_at(hp, count), eps=1e-5))

    def bc_weight(self, hp: HParams, update: jax.Array) -> jax.Array:
        """The behaviour-cloning weight during update ``update`` (0-based): bc_coef decaying linearly to 0 at
        bc_anneal_frac of the run's updates; the one place the schedule is written."""
        frac = update.astype(jnp.float32) / (hp.bc_anneal_frac * self.config.num_updates)
        return hp.bc_coef * jnp.clip(1.0 - frac, 0.0, 1.0)

    def policy_dist(self, mean: jax.Array, log_std: jax.Array, prev_noise: jax.Array | None):
        """(mean, log_std) the pre-tanh draw follows: the policy's own, or given the previous noise (noise_corr)."""
        if prev_noise is None:
            return mean, log_std
        return dist.conditional(mean, log_std, prev_noise, self.config.noise_corr)

    def _shard(self, tree, env_axis: int = 0):
        # Pin the env-batch axis to the device mesh; a no-op on one device.
        if self.mesh is None:
            return tree

        def pin(x):
            if not hasattr(x, "ndim") or x.ndim <= env_axis:
                return x
            spec = P(*([None] * env_axis + ["env"]))
            return jax.lax.with_sharding_constraint(x, NamedSharding(self.mesh, spec))

        return jax.tree.map(pin, tree)

    def init(self, rng: jax.Array, hp: HParams | None = None, env_params: Any = None) -> TrainState:
        """Fresh networks, optimizer, obs statistics and reset envs."""
        hp = HParams.from_config(self.config) if hp is None else hp
        env_params = self.env_params if env_params is None else env_params
        rng, k_actor, k_critic, k_env = jax.random.split(rng, 4)
        dummy = jnp.zeros((1, self.obs_dim), jnp.float32)
        params = {"actor": self.actor.init(k_actor, dummy), "critic": self.critic.init(k_critic, dummy)}
        e = self.config.num_envs
        obs, env_state = jax.vmap(self.env.reset, in_axes=(0, None))(jax.random.split(k_env, e), env_params)
        obs, env_state = self._shard((obs, env_state))
        noise = None
        if self.config.noise_corr > 0:  # a virtual previous noise: the first draw is N(mean, std^2) as every later one
            rng, k_noise = jax.random.split(rng)
            noise = jax.random.normal(k_noise, (e, self.action_dim), jnp.float32)
        return TrainState(
            params=params, opt_state=self.optimizer(hp).init(params), obs_norm=ObsNorm.create(self.obs_dim),
            reward_norm=RewardNorm.create(e), env_state=env_state, obs=obs, rng=rng, update=jnp.zeros((), jnp.int32),
            noise=noise)

    def update(self, state: TrainState, hp: HParams, env_params: Any) -> tuple[TrainState, dict]:
        """One PPO update: rollout, obs-stat merge, GAE, epochs x minibatches of clipped-objective SGD."""
        c = self.config
        clip = c.obs_clip
        rng, k_roll, k_epochs = jax.random.split(state.rng, 3)

        # COLLECT TRAJECTORIES (actor only; values and log-probs are recomputed after the stat merge)
        def env_step(carry, key):
            env_state, obs, disc_ret, prev_noise = carry
            k_act, k_env = jax.random.split(key)
            mean, log_std = self.actor.apply(state.params["actor"], state.obs_norm.normalize(obs, clip))
            u, a = dist.sample(k_act, *self.policy_dist(mean, log_std, prev_noise))
            # the teacher acts on the state the agent acts on (EpisodeStats holds the user env's state)
            t_a = None if self.teacher is None else jax.vmap(self.teacher, in_axes=(0, None))(env_state.env_state, env_params)
            keys = jax.random.split(k_env, c.num_envs)
            next_obs, env_state, reward, term, trunc, info = jax.vmap(self.env.step, in_axes=(0, 0, 0, None))(
                keys, env_state, a, env_params)
            next_obs, env_state = self._shard((next_obs, env_state))
            done = jnp.logical_or(term, trunc)
            ret_t, disc_ret = RewardNorm.accumulate(disc_ret, reward * hp.reward_scale, done, hp.gamma)
            tr = Transition(obs, u, reward, term, trunc, info["final_observation"], t_a, prev_noise)
            next_noise = None
            if prev_noise is not None:  # a new episode starts from a fresh noise, independent of the last one
                fresh = jax.random.normal(jax.random.fold_in(k_act, 1), prev_noise.shape, prev_noise.dtype)
                next_noise = jnp.where(done[:, None], fresh, dist.noise_of(mean, log_std, u))
            return (env_state, next_obs, disc_ret, next_noise), (tr, (info["episode_done"], info["episode"]), ret_t)

        carry0 = (state.env_state, state.obs, state.reward_norm.disc_return, state.noise)
        (env_state, obs, disc_ret, noise), (traj, (ended, episode), disc_returns) = jax.lax.scan(
            env_step, carry0, jax.random.split(k_roll, c.num_steps))

        # UPDATE OBSERVATION AND RETURN STATISTICS with this rollout, then re-express the batch in them
        obs_norm = state.obs_norm.update(traj.obs.reshape(-1, self.obs_dim))
        reward_norm = state.reward_norm.update(disc_returns, disc_ret)
        rewards = traj.reward * hp.reward_scale  # [T, E] what the learner optimizes
        if c.normalize_reward:
            rewards = reward_norm.scale(rewards)
        # [E, T, ...] layout: env axis first so it stays sharded and minibatching is per-env local
        b = self._shard(jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), traj))
        obs_n = obs_norm.normalize(b.obs, clip)
        final_n = obs_norm.normalize(b.final_obs, clip)
        m, tm = c.num_minibatches, c.num_steps // c.num_minibatches

        def to_chunks(x):  # [E, T, ...] -> [M, E, tm, ...]: time chunks, env axis kept whole (sharded)
            return jnp.swapaxes(x.reshape(c.num_envs, m, tm, *x.shape[2:]), 0, 1)

        def from_chunks(x):  # [M, E, tm] -> [E, T]
            return jnp.swapaxes(x, 0, 1).reshape(c.num_envs, c.num_steps)

        def recompute(xs):
            # one minibatch-sized chunk at a time: the whole batch's activations would not fit in
            # cache and its fused MLP runs several times slower per row on XLA:CPU
            o, f, u, prev = xs
            mean, log_std = self.actor.apply(state.params["actor"], o)
            return (dist.log_prob(*self.policy_dist(mean, log_std, prev), u), self.critic.apply(state.params["critic"], o),
                    self.critic.apply(state.params["critic"], f))

        prev_chunks = None if b.prev_noise is None else to_chunks(b.prev_noise)
        logp_old, values, next_values = (from_chunks(x) for x in jax.lax.map(
            recompute, (to_chunks(obs_n), to_chunks(final_n), to_chunks(b.u), prev_chunks)))  # [E, T] each

        # CALCULATE ADVANTAGE (time axis first for the reverse scan)
        adv, ret = gae(rewards, *(jnp.swapaxes(x, 0, 1) for x in (
            values, next_values, b.terminated, b.truncated)), hp.gamma, hp.gae_lambda)
        adv, ret = jnp.swapaxes(adv, 0, 1), jnp.swapaxes(ret, 0, 1)  # [E, T]

        # UPDATE NETWORK: epochs x minibatches; each minibatch is T/M random steps of every env
        tx = self.optimizer(hp)
        batch = (obs_n, b.u, logp_old, adv, ret, b.teacher, b.prev_noise)
        bc_w = self.bc_weight(hp, state.update)

        def loss_fn(params, mb, key):
            o, u, lp_old, a, r, teacher, prev = mb
            a = (a - a.mean()) / (a.std() + 1e-8)
            mean, log_std = self.actor.apply(params["actor"], o)
            logratio = dist.log_prob(*self.policy_dist(mean, log_std, prev), u) - lp_old
            ratio = jnp.exp(logratio)
            pg = jnp.maximum(-a * ratio, -a * jnp.clip(ratio, 1.0 - hp.clip_eps, 1.0 + hp.clip_eps)).mean()
            v_loss = 0.5 * jnp.square(self.critic.apply(params["critic"], o) - r).mean()
            ent = dist.entropy(key, mean, log_std).mean()
            loss = pg + hp.vf_coef * v_loss - hp.ent_coef * ent
            bc = jnp.zeros((), jnp.float32)
            if teacher is not None:  # static: without a teacher the program is the plain PPO one
                target = jnp.clip(teacher, -BC_TARGET_MAX, BC_TARGET_MAX)
                bc = jnp.square(dist.deterministic(mean) - target).sum(-1).mean()
                loss = loss + bc_w * bc
            kl = ((ratio - 1.0) - logratio).mean()
            clipfrac = (jnp.abs(ratio - 1.0) > hp.clip_eps).astype(jnp.float32).mean()
            return loss, (pg, v_loss, ent, kl, clipfrac, bc)

        def sgd_step(carry, xs):
            params, opt_state = carry
            mb, key = xs
            mb = jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), mb)  # [E, tm, ...] -> [E*tm, ...]
            grads, aux = jax.grad(loss_fn, has_aux=True)(params, mb, key)
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), (*aux, _tree_norm(grads))

        def epoch(carry, key):
            k_perm, k_mb = jax.random.split(key)
            perm = jnp.argsort(jax.random.uniform(k_perm, (c.num_envs, c.num_steps)), axis=1)  # [E, T]

            def shuffle(x):  # [E, T, ...] -> [M, E, tm, ...]
                idx = perm.reshape(perm.shape + (1,) * (x.ndim - 2))
                x = jnp.take_along_axis(x, idx, axis=1).reshape(c.num_envs, m, tm, *x.shape[2:])
                return jnp.swapaxes(x, 0, 1)

            mbs = jax.tree.map(shuffle, batch)
            return jax.lax.scan(sgd_step, carry, (mbs, jax.random.split(k_mb, m)))

        (params, opt_state), aux = jax.lax.scan(
            epoch, (state.params, state.opt_state), jax.random.split(k_epochs, c.update_epochs))
        pg, v_loss, ent, kl, clipfrac, bc, gnorm = (x.mean() for x in aux)

        n_ep = ended.sum()
        var_ret = jnp.var(ret)
        metrics = {
            "losses/policy_loss": pg, "losses/value_loss": v_loss, "losses/entropy": ent,
            "losses/approx_kl": kl, "losses/clipfrac": clipfrac,
            "losses/explained_variance": jnp.where(var_ret > 0, 1.0 - jnp.var(ret - values) / var_ret, 0.0),
            "losses/grad_norm": gnorm,
            "charts/learning_rate": self.optimizer_lr(hp, opt_state),
            "charts/episodes": n_ep.astype(jnp.float32),
            "charts/mean_reward": traj.reward.mean(),
            # what the learner's rewards were divided by (after reward_scale): the running return std
            "charts/reward_divisor": reward_norm.std if c.normalize_reward else jnp.ones((), jnp.float32),
            "policy/std": jnp.exp(params["actor"]["params"]["log_std"]).mean(),
            "losses/bc": bc,  # distance to the teacher's actions (0 without a teacher)
        }
        # EPISODE METRICS: mean over the episodes that ended in this rollout; 0 when none did (see charts/episodes)
        for name in self.episode_metrics:
            metrics[name] = jnp.where(ended, episode[name], 0.0).sum() / jnp.maximum(n_ep, 1)
        new_state = TrainState(params=params, opt_state=opt_state, obs_norm=obs_norm, reward_norm=reward_norm,
                               env_state=env_state, obs=obs, rng=rng, update=state.update + 1, noise=noise)
        return new_state, metrics

    def optimizer_lr(self, hp: HParams, opt_state) -> jax.Array:
        """Learning rate the next gradient step will use."""
        return self.lr_at(hp, opt_state[1][0].count)  # adam's ScaleByAdamState step counter

    def run(self, state: TrainState, hp: HParams, env_params: Any, num_updates: int) -> tuple[TrainState, dict]:
        """`num_updates` updates in one `lax.scan`; metrics stacked [num_updates]."""
        return jax.lax.scan(lambda s, _: self.update(s, hp, env_params), state, None, length=num_updates)

    def params_out(self, state: TrainState) -> dict:
        """Network params plus observation (and return) statistics: what evaluation and export need."""
        return {"actor": state.params["actor"], "critic": state.params["critic"], "obs_norm": state.obs_norm,
                "reward_norm": state.reward_norm}

    def value(self, params: dict, obs_raw: jax.Array, hp: HParams | None = None) -> jax.Array:
        """The critic's value of raw observations [..., D] in the env's reward units, from `params_out`."""
        hp = HParams.from_config(self.config) if hp is None else hp
        v = self.critic.apply(params["critic"], params["obs_norm"].normalize(obs_raw, self.config.obs_clip))
        if self.config.normalize_reward:
            v = v * params["reward_norm"].std
        return v / hp.reward_scale


def make_ppo(config: PPOConfig, env, env_params, teacher: Callable[[Any, Any], jax.Array] | None = None) -> PPO:
    """Build the PPO pieces for a gymnax env with a Box action space (actions rescaled from [-1, 1]).

    Episode metrics come from an `EpisodeStats` wrapper: pass ``EpisodeStats(env, final_info={...})`` to log
    the final value of info keys; any other env is wrapped with a plain one (return and length).
    ``teacher(env_state, env_params) -> [A]`` (the user env's state, actions in [-1, 1]) is what
    ``config.bc_coef`` clones toward, unused when bc_coef is 0. Training requires it then (`check_teacher`);
    evaluating a trained actor does not (`mmjax evaluate` rebuilds the pieces from the run's config).
    """
    config.validate()
    stats = env if isinstance(env, EpisodeStats) else EpisodeStats(env)
    env = RescaleAction(stats)
    obs_shape = jax.eval_shape(lambda k: env.reset(k, env_params)[0], jax.random.PRNGKey(0)).shape
    action_dim = env.action_dim(env_params)
    # One process: local devices. Several (mmjax.ppo.distributed): the global device list, all of it.
    n_dev = config.num_devices or jax.device_count()
    mesh = None
    if jax.process_count() > 1 and n_dev != jax.device_count():
        raise ValueError(f"PPOConfig.num_devices={n_dev}: a multi-process run shards over all {jax.device_count()} "
                         "devices of all processes; use num_devices=0")
    if n_dev > 1:
        if n_dev > jax.device_count():
            raise ValueError(f"PPOConfig.num_devices={n_dev} but only {jax.device_count()} devices")
        if config.num_envs % n_dev:
            raise ValueError(f"PPOConfig.num_envs={config.num_envs} must be divisible by num_devices={n_dev}")
        mesh = Mesh(jax.devices()[:n_dev], ("env",))
    actor = Actor(action_dim, config.hidden, config.activation, config.init_log_std, config.init_action)
    critic = Critic(config.hidden, config.activation)
    return PPO(config, env, env_params, actor, critic, int(obs_shape[0]), action_dim, mesh, stats.metric_names,
               teacher if config.bc_coef > 0 else None)


def check_teacher(config: PPOConfig, teacher) -> None:
    """A run with a behaviour-cloning weight needs a teacher: a UserError naming the flag otherwise."""
    if config.bc_coef > 0 and teacher is None:
        raise UserError(f"--bc-coef {config.bc_coef:g} (PPOConfig.bc_coef) needs a teacher to clone, and none was given "
                        "(`mmjax demo --teacher glft` gives one); use --bc-coef 0")


def make_train(config: PPOConfig, env, env_params, teacher: Callable[[Any, Any], jax.Array] | None = None):
    """Pure `train(rng, hparams=None, env_params=None) -> {"params", "metrics", "state"}` for the whole run
    (``teacher``: `make_ppo`'s)."""
    check_teacher(config, teacher)
    ppo = make_ppo(config, env, env_params, teacher)

    def train(rng: jax.Array, hparams: HParams | None = None, env_params: Any = None) -> dict:
        hp = HParams.from_config(config) if hparams is None else hparams
        env_params = ppo.env_params if env_params is None else env_params
        state = ppo.init(rng, hp, env_params)
        state, metrics = ppo.run(state, hp, env_params, config.num_updates)
        return {"params": ppo.params_out(state), "metrics": metrics, "state": state}

    train.ppo = ppo  # the pieces, for runners and tests
    return train


@partial(jax.jit, static_argnames=("actor",))
def deterministic_action(actor: Actor, params: dict, obs_raw: jax.Array, obs_clip: float = 10.0) -> jax.Array:
    """tanh(mean) for raw observations [..., D] using params from `params_out`.

    Full float32 matmuls on every backend: XLA's default on recent GPUs is TF32 (fine for training, ~1e-3
    off in the action), and evaluation must match the exported NumPy policy that live trading runs.
    """
    with jax.default_matmul_precision("float32"):
        mean, _ = actor.apply(params["actor"], params["obs_norm"].normalize(obs_raw, obs_clip))
    return dist.deterministic(mean)
