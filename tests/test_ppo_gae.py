"""GAE matches a plain Python loop, including truncation (bootstrap from the final obs) and termination."""

import numpy as np

from mmjax.ppo.gae import gae


def python_gae(r, v, v_next, term, trunc, gamma, lam):
    T = len(r)
    adv = np.zeros(T)
    running = 0.0
    for t in reversed(range(T)):
        boot = 0.0 if term[t] else v_next[t]
        delta = r[t] + gamma * boot - v[t]
        running = delta + (0.0 if (term[t] or trunc[t]) else gamma * lam * running)
        adv[t] = running
    return adv, adv + v


def test_gae_matches_python_loop_with_truncation_and_termination():
    rng = np.random.default_rng(0)
    T, E = 40, 5
    r = rng.normal(size=(T, E)).astype(np.float32)
    v = rng.normal(size=(T, E)).astype(np.float32)
    v_next = rng.normal(size=(T, E)).astype(np.float32)
    term = rng.random((T, E)) < 0.1
    trunc = (rng.random((T, E)) < 0.1) & ~term
    assert term.any() and trunc.any()
    adv, ret = gae(r, v, v_next, term, trunc, 0.97, 0.9)
    for e in range(E):
        want_adv, want_ret = python_gae(r[:, e], v[:, e], v_next[:, e], term[:, e], trunc[:, e], 0.97, 0.9)
        np.testing.assert_allclose(adv[:, e], want_adv, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(ret[:, e], want_ret, rtol=1e-5, atol=1e-5)


def test_truncation_bootstraps_but_termination_does_not():
    r = np.ones((1, 2), np.float32)
    v = np.zeros((1, 2), np.float32)
    v_next = np.full((1, 2), 10.0, np.float32)
    adv, _ = gae(r, v, v_next, np.array([[True, False]]), np.array([[False, True]]), 0.5, 0.95)
    np.testing.assert_allclose(adv[0], [1.0, 1.0 + 0.5 * 10.0])


def test_episode_boundary_cuts_the_lambda_trace():
    # Two steps; step 0 truncates, so step 1's advantage must not leak into step 0.
    r = np.array([[0.0], [100.0]], np.float32)
    v = np.zeros((2, 1), np.float32)
    v_next = np.zeros((2, 1), np.float32)
    adv, _ = gae(r, v, v_next, np.zeros((2, 1), bool), np.array([[True], [False]]), 0.9, 1.0)
    np.testing.assert_allclose(adv[:, 0], [0.0, 100.0])
