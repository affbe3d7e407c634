"""Incumbent, Lagrangian bound and exact site fixing for the budgeted MCLP (site costs, a budget, no ``p``).

The merged model over demand groups ``g`` (weight ``w_g``) and free sites
``j`` (cost ``f_j``), with budget ``B`` left after the predefined sites::

    max Σ_g w_g z_g   s.t.  z_g <= Σ_j a_gj x_j,  z_g <= 1,  Σ_j f_j x_j <= B,  x binary

*Incumbent*: the greedy plan (most new weight per yuan among the sites that
still fit), improved by best-improvement interchange within the budget
(:func:`budget_local_search`: opening a site that fits, or swapping one in
and one out when the budget allows it), then by the iterated local search
of the exact-``p`` MCLP with the ratio greedy as refill
(:func:`budget_iterated_local_search`).

*Bound*: relaxing the cover rows with ``u`` in ``[0, w]`` gives, for every
``u``, ``L(u) = Σ_g (w_g − u_g) + K(c)``, ``c = Aᵀu``, where ``K(c)`` is the
largest ``Σ c_j x_j`` of a plan within the budget. Dantzig's bound (sites by
``c_j / f_j``, the first one that does not fit taken fractionally) is at
least ``K(c)``, so ``L`` with it bounds every plan; it costs two sparse
products and one sort per step. Forcing one site the other way changes only
the knapsack part, and its Dantzig bound without that site is read off the
same sorted prefix sums (:func:`_forced_bounds`), so every site's test is
one vectorised pass. A site whose forced bound falls below the incumbent's
threshold is fixed the incumbent's way; the test holds for any ``u``, so the
fixings keep every plan worth keeping, and the incumbent obeys them.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import scipy.sparse as sp

from ._mclp_reduce import (
    _MCLP_ILS_ITERATIONS,
    _MCLP_ILS_STALL,
    _MCLP_ILS_WORK_NO_LP,
    _MCLP_SWAP_MAX_CELLS,
    _MCLP_SWAP_WORK,
    ils_kicks,
    kick_sites,
    site_overlap,
)

_ITERATIONS = 400  # subgradient steps
_STALL = 25  # steps without a better bound before the step length is halved


def budget_greedy(
    a: sp.csr_array,
    w: np.ndarray,
    cost: np.ndarray,
    budget: float,
    start: np.ndarray | None = None,
    banned: np.ndarray | None = None,
) -> np.ndarray:
    """Greedy plan: repeatedly open the affordable site with the most new weight per unit cost.

    From ``start`` (a plan within the budget; default none) and never opening
    a ``banned`` site. From no start, the best single affordable site is kept
    instead when it alone covers more (the classic guard of the ratio greedy).
    Returns a mask over the sites.
    """
    ac = sp.csc_array(a, dtype=np.float64)
    m = a.shape[1]
    plan = np.zeros(m, dtype=bool) if start is None else start.copy()
    blocked = np.zeros(m, dtype=bool) if banned is None else banned
    uncovered = (ac @ plan.astype(np.float64)) == 0
    left = float(budget) - float(cost[plan].sum())
    tol = 1e-9 * max(1.0, abs(float(budget)))
    while True:
        gain = ac.T @ (w * uncovered)
        ok = ~plan & ~blocked & (cost <= left + tol) & (gain > 0)
        if not ok.any():
            break
        ratio = np.where(cost > 0, gain / np.maximum(cost, 1e-300), np.inf)
        ratio[~ok] = -1.0
        j = int(np.argmax(ratio))
        plan[j] = True
        left -= float(cost[j])
        uncovered[ac.indices[ac.indptr[j] : ac.indptr[j + 1]]] = False
    if start is not None:
        return plan
    single = np.asarray(ac.T @ w).ravel()
    single[cost > budget + tol] = -1.0
    if m and single.max() > float(w[~uncovered].sum()):
        plan[:] = False
        plan[int(np.argmax(single))] = True
    return plan


def budget_local_search(
    a: sp.csr_array,
    w: np.ndarray,
    plan: np.ndarray,
    cost: np.ndarray,
    budget: float,
    max_moves: int | None = None,
    transposes: tuple[sp.csc_array, sp.csr_array] | None = None,
) -> tuple[np.ndarray, float]:
    """Best-improvement moves within the budget, to a local optimum: open a site that fits, or swap two.

    The swap gains are those of :func:`._mclp_reduce._mclp_local_search`
    (``add_j − loss_k + M_jk``); a swap is allowed when ``f_j − f_k`` fits in
    what the budget leaves. ``transposes`` is ``(a as CSC, aᵀ as CSR)`` when
    the caller has them (repeated calls). Returns ``(plan, covered weight)``.
    """
    if transposes is None:
        a = sp.csr_array(a, dtype=np.float64)
        acsc = a.tocsc()
        at = sp.csr_array(acsc.T)
    else:
        acsc, at = transposes
    n_sites = a.shape[1]
    plan = plan.copy()
    c = a @ plan.astype(np.float64)
    tol = 1e-9 * max(1.0, abs(float(budget)))
    eps = 1e-9 * max(1.0, float(w.sum()))
    if max_moves is None:
        max_moves = max(1, int(_MCLP_SWAP_WORK / (a.nnz + n_sites * max(1, int(plan.sum())) + 1)))
    for _ in range(max_moves):
        left = float(budget) - float(cost[plan].sum())
        add = at @ (w * (c == 0))
        add_ok = ~plan & (cost <= left + tol)
        best_add = float(add[add_ok].max()) if add_ok.any() else -math.inf
        move: tuple[int, int] | None = None
        best = eps
        if best_add > best:
            best, move = best_add, (int(np.flatnonzero(add_ok)[np.argmax(add[add_ok])]), -1)
        open_idx = np.flatnonzero(plan)
        if len(open_idx) and len(open_idx) * n_sites <= _MCLP_SWAP_MAX_CELLS:
            b = acsc[:, open_idx]
            b = sp.csc_array((b.data * (w * (c == 1))[b.indices], b.indices, b.indptr), shape=b.shape)
            b.eliminate_zeros()
            loss = np.asarray(b.sum(axis=0)).ravel()
            gain = (at @ b).toarray()
            gain += add[:, None]
            gain -= loss[None, :]
            gain[plan, :] = -np.inf
            gain[cost[:, None] - cost[open_idx][None, :] > left + tol] = -np.inf
            k = int(np.argmax(gain))
            j, r = divmod(k, len(open_idx))
            if gain[j, r] > best:
                best, move = float(gain[j, r]), (j, int(open_idx[r]))
        if move is None:
            break
        j, out = move
        plan[j] = True
        c[acsc.indices[acsc.indptr[j] : acsc.indptr[j + 1]]] += 1
        if out >= 0:
            plan[out] = False
            c[acsc.indices[acsc.indptr[out] : acsc.indptr[out + 1]]] -= 1
    return plan, float(w[c > 0].sum())


def budget_iterated_local_search(
    a: sp.csr_array,
    w: np.ndarray,
    cost: np.ndarray,
    budget: float,
    plan: np.ndarray,
    iterations: int,
    seed: int = 0,
) -> tuple[np.ndarray, float, list[float]]:
    """Iterated local search within the budget, from a plan at a local optimum of :func:`budget_local_search`.

    The kick of :meth:`._mclp_reduce._MclpReducer.iterated_local_search`:
    close the sites :func:`._mclp_reduce.kick_sites` picks, refill by the
    ratio greedy without them, improve by :func:`budget_local_search`,
    accept when not worse (plateaus are walked).
    Stops after ``_MCLP_ILS_STALL`` kicks in a row without a better plan.
    Seeded: reproducible. Returns ``(best plan, its covered weight, the value
    of each improvement in order)``.
    """
    a = sp.csr_array(a, dtype=np.float64)
    acsc = a.tocsc()
    at = sp.csr_array(acsc.T)
    best = plan.copy()
    best_val = float(w[(a @ best.astype(np.float64)) > 0].sum())
    found: list[float] = []
    if iterations <= 0 or int(plan.sum()) < 2:
        return best, best_val, found
    rng = np.random.default_rng(seed)
    ov = site_overlap(at, a)
    cur, cur_val = best.copy(), best_val
    stall = 0
    total = float(w.sum())
    for _ in range(iterations):
        if stall >= _MCLP_ILS_STALL or best_val >= total:  # all the weight: nothing better exists
            break
        stall += 1
        if int(cur.sum()) < 2:
            break
        out = kick_sites(ov, cur, rng)
        kicked = cur.copy()
        kicked[out] = False
        banned = np.zeros(a.shape[1], dtype=bool)
        banned[out] = True
        kicked = budget_greedy(a, w, cost, budget, start=kicked, banned=banned)
        kicked, value = budget_local_search(a, w, kicked, cost, budget, transposes=(acsc, at))
        if value > cur_val:
            stall = 0
        if value >= cur_val:
            cur, cur_val = kicked, value
        if value > best_val + 1e-9 * max(1.0, abs(value)):
            best, best_val = kicked.copy(), value
            found.append(value)
    return best, best_val, found


class _Knapsack:
    """Dantzig's bound of ``max Σ c_j x_j, Σ f_j x_j <= B`` and of the same with one site forced either way."""

    def __init__(self, c: np.ndarray, cost: np.ndarray, budget: float) -> None:
        self.c, self.cost, self.budget = c, cost, float(budget)
        # Sites of no cost are always taken (c >= 0); they never stop the prefix.
        ratio = np.where(cost > 0, c / np.maximum(cost, 1e-300), np.inf)
        self.order = np.argsort(-ratio, kind="stable")
        self.pos = np.empty(len(c), dtype=np.int64)
        self.pos[self.order] = np.arange(len(c))
        self.ratio = ratio[self.order]
        self.p0 = np.concatenate([[0.0], np.cumsum(cost[self.order])])  # cost of the first i sites
        self.v0 = np.concatenate([[0.0], np.cumsum(c[self.order])])  # their value

    def bound(self, cap: np.ndarray | float, skip: np.ndarray | None = None) -> np.ndarray:
        """Dantzig's bound at capacity ``cap`` (per entry), without the site at sorted position ``skip``."""
        cap = np.atleast_1d(np.asarray(cap, dtype=np.float64))
        n = len(self.c)
        out = np.full(cap.shape, -math.inf)
        fits = cap >= 0
        i = np.clip(np.searchsorted(self.p0, cap, side="right") - 1, 0, n)
        frac = np.where(i < n, self.ratio[np.minimum(i, n - 1)] if n else 0.0, 0.0)
        whole = self.v0[i] + np.where(i < n, (cap - self.p0[i]) * frac, 0.0)
        if skip is None:
            out[fits] = whole[fits]
            return out
        # Without the site at position q: the same below it; from it on, the prefix sums shift by its cost.
        q = skip
        shifted_cap = cap + self.cost[self.order[q]]
        i2 = np.clip(np.searchsorted(self.p0, shifted_cap, side="right") - 1, 0, n)
        frac2 = np.where(i2 < n, self.ratio[np.minimum(i2, n - 1)] if n else 0.0, 0.0)
        shifted = self.v0[i2] - self.c[self.order[q]] + np.where(i2 < n, (shifted_cap - self.p0[i2]) * frac2, 0.0)
        res = np.where(i < q, whole, shifted)
        out[fits] = res[fits]
        return out

    def forced(self) -> tuple[np.ndarray, np.ndarray]:
        """``(bound with site j forced open, bound with it forced closed)`` for every site ``j``."""
        q = self.pos
        closed = self.bound(np.full(len(self.c), self.budget), q)
        opened = self.c + self.bound(self.budget - self.cost, q)
        return opened, closed


def _forced_bounds(
    at: sp.csr_array, w: np.ndarray, u: np.ndarray, cost: np.ndarray, budget: float
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """``(L(u), c, bound with each site forced open, forced closed)``, all with Dantzig's knapsack bound."""
    c = at @ u
    ks = _Knapsack(c, cost, budget)
    base = float((w - u).sum())
    opened, closed = ks.forced()
    return base + float(ks.bound(budget)[0]), c, base + opened, base + closed


def _knapsack_lp_point(ks: _Knapsack) -> np.ndarray:
    """The LP optimum of the knapsack ``ks`` (Dantzig's solution), a subgradient point."""
    x = np.zeros(len(ks.c))
    take = np.clip(ks.budget - ks.p0[:-1], 0.0, None)
    sorted_cost = ks.cost[ks.order]
    x[ks.order] = np.where(sorted_cost > 0, np.minimum(1.0, take / np.maximum(sorted_cost, 1e-300)), 1.0)
    return x


def budget_lagrangian_fixing(
    a: sp.csr_array,
    w: np.ndarray,
    cost: np.ndarray,
    budget: float,
    plan: np.ndarray,
    value: float,
    threshold: float,
    stats: dict[str, Any],
    offset: float = 0.0,
    iterations: int = _ITERATIONS,
) -> tuple[float, np.ndarray, np.ndarray]:
    """Subgradient on ``L(u)`` (Polyak steps towards the incumbent), then site fixing.

    Parameters
    ----------
    a
        Demand groups × free sites, 0/1.
    w
        Group weights.
    cost, budget
        Free sites' costs and the budget they share.
    plan, value
        The incumbent (mask over the free sites, within the budget) and its covered weight.
    threshold
        The value a plan needs to be worth keeping.
    stats
        Gets ``lagrangian_bound`` (plus ``offset``), fixings and seconds.
    offset
        Weight covered anyway, only added to the values in ``stats``.
    iterations
        Subgradient steps.

    Returns
    -------
    (best bound, sites to fix closed, sites to fix open) over the free sites
        The bound is the smallest ``L(u)`` met; fixings go the incumbent's way.
    """
    t0 = time.perf_counter()
    a = sp.csr_array(a, dtype=np.float64)
    at = sp.csr_array(a.T)
    w = np.asarray(w, dtype=np.float64)
    cost = np.asarray(cost, dtype=np.float64)
    u = 0.5 * w
    best, best_u = float(w.sum()), np.zeros_like(w)
    step, stall = 1.0, 0
    for _ in range(iterations):
        c = at @ u
        ks = _Knapsack(c, cost, budget)
        bound = float((w - u).sum()) + float(ks.bound(budget)[0])
        if bound < best - 1e-9 * abs(best):
            best, best_u, stall = bound, u, 0
        else:
            stall += 1
            if stall >= _STALL:
                step, stall = step / 2.0, 0
        if best < threshold or step < 1e-4:
            break
        g = a @ _knapsack_lp_point(ks) - 1.0
        norm = float(g @ g)
        if norm == 0.0:
            break
        u = np.clip(u - step * (bound - value) / norm * g, 0.0, w)
    bound, c, opened, closed = _forced_bounds(at, w, best_u, cost, budget)
    # Floating sums of ~1e5 terms: keep a margin far above their rounding error.
    margin = 1e-9 * (float(w.sum()) + float(np.abs(c).sum()))
    bound += margin
    fix_closed = ~plan & (opened + margin < threshold)
    fix_open = plan & (closed + margin < threshold)
    if bound < threshold:  # no plan beats the incumbent: every site its way
        fix_closed, fix_open = ~plan, plan.copy()
    stats["lagrangian_bound"] = bound + offset
    stats["lagrangian_seconds"] = time.perf_counter() - t0
    stats["lagrangian_fixed_closed"] = int(fix_closed.sum())
    stats["lagrangian_fixed_open"] = int(fix_open.sum())
    return bound, fix_closed, fix_open


def mclp_budget_reduce(
    a_full: sp.csr_array,
    w: np.ndarray,
    cost: np.ndarray,
    budget: float,
    pre: np.ndarray,
    dropped: np.ndarray,
    offset: float,
    stats: dict[str, Any],
    reduce: bool,
) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """Incumbent and (with ``reduce``) exact fixing for the budgeted MCLP.

    Parameters
    ----------
    a_full
        Demand groups × sites coverage of the groups some site reaches.
    w
        Group weights.
    cost, budget
        Every site's cost and the whole budget (predefined sites included).
    pre, dropped
        Predefined sites (open); sites already removed.
    offset
        Weight covered anyway, only for the values in ``stats``.
    stats
        Filled with what was done.
    reduce
        Also bound and fix (else only the incumbent).

    Returns
    -------
    (incumbent mask over the sites, its covered group weight, sites fixed closed, sites fixed open)
    """
    t0 = time.perf_counter()
    m = a_full.shape[1]
    left = float(budget) - float(cost[pre].sum())
    tol = 1e-9 * max(1.0, abs(float(budget)))
    fix0 = np.zeros(m, dtype=bool)
    fix1 = np.zeros(m, dtype=bool)
    # A site that alone costs more than the budget leaves is in no plan.
    unaffordable = ~pre & ~dropped & (cost > left + tol)
    if reduce:
        fix0 |= unaffordable
    free_idx = np.flatnonzero(~pre & ~dropped & ~unaffordable)
    a = sp.csr_array(a_full[:, free_idx], dtype=np.float64)
    fcost = np.asarray(cost[free_idx], dtype=np.float64)
    plan = budget_greedy(a, w, fcost, left)
    greedy_value = float(w[(a @ plan.astype(np.float64)) > 0].sum())
    plan, value = budget_local_search(a, w, plan, fcost, left)
    stats["incumbent_sources"] = [f"greedy: {greedy_value + offset:g}", f"interchange: {value + offset:g}"]
    # No LP guides this path at any size, so the search has the budget of the MCLP's path without one.
    kicks = ils_kicks(_MCLP_ILS_ITERATIONS, _MCLP_ILS_WORK_NO_LP, a.nnz, len(free_idx), max(1, int(plan.sum())))
    plan, value, found = budget_iterated_local_search(a, w, fcost, left, plan, kicks)
    stats["incumbent_sources"] += [f"iterated local search: {v + offset:g}" for v in found]
    if reduce and len(free_idx):
        integral = bool(np.all(w == np.round(w)) and w.sum() < 2.0**52)
        eps = 1e-9 * max(1.0, abs(value))
        threshold = value + 1.0 - eps if integral else value - eps
        _, close, keep_open = budget_lagrangian_fixing(a, w, fcost, left, plan, value, threshold, stats, offset)
        fix0[free_idx[close]] = True
        fix1[free_idx[keep_open]] = True
    stats["sites_fixed_closed"] = int(fix0.sum())
    stats["sites_fixed_open"] = int(fix1.sum())
    stats["reduction_seconds"] = time.perf_counter() - t0
    mask = np.zeros(m, dtype=bool)
    mask[free_idx[plan]] = True
    return mask, value, fix0, fix1
