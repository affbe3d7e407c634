"""Lagrangian bound and site fixing for large exact-``p`` MCLPs (where the LP relaxation is too slow).

The merged MCLP over demand groups ``g`` (weight ``w_g``) and free sites
``j``, ``k`` of them to open::

    max Σ_g w_g z_g   s.t.  z_g <= Σ_j a_gj x_j,  z_g <= 1,  Σ_j x_j = k,  x binary

Relaxing the cover rows with multipliers ``u >= 0`` (Galvão & ReVelle 1996)
gives, for every ``u``,

    L(u) = Σ_g max(0, w_g − u_g) + (sum of the k largest c_j),   c = Aᵀu,

an upper bound on every plan: it needs only two sparse products, so it
scales with the coverage pairs where HiGHS' root LP does not finish (50,000
× 5,000 with 2.3 M pairs). Forcing one site the other way changes only the
top-k part, so its bound is ``L(u) − c_(k) + c_j`` (``j`` outside the top
k, forced open) or ``L(u) − c_j + c_(k+1)`` (inside, forced closed). A site
whose forced bound falls below the incumbent's threshold is fixed the
incumbent's way: no plan worth keeping differs there. Each test holds for
whatever ``u`` the subgradient steps reached, so the fixings are exact
however far the steps are from the dual optimum.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import scipy.sparse as sp

# Subgradient steps (~7 ms each at 2.3 M pairs), steps without a better bound before the step
# length is halved, its first value, and the share of the last direction kept in the next one.
# Deflection damps the zig-zag between the cover rows of neighbouring sites: on the 50,000 x 5,000
# uniform scaling model the bound after 600 plain steps (stall 25, start 1) was 24.44 M; deflected,
# start 2, stall 50 it is 24.14 M after 1,500 steps (24.05 M after 6,000; the LP lies in
# [23.97 M, 24.15 M]). Measured in session 23, benchmarks/README.md "Scaling".
_ITERATIONS = 1500
_STALL = 50
_STEP0 = 2.0
_DEFLECTION = 0.3


def _bound_parts(at: sp.csr_array, w: np.ndarray, u: np.ndarray, k: int) -> tuple[float, np.ndarray, np.ndarray]:
    """``(L(u), c, the top-k site indices)`` of the relaxation at ``u``."""
    c = at @ u
    top = np.argpartition(-c, k - 1)[:k]
    return float(np.maximum(0.0, w - u).sum() + c[top].sum()), c, top


def lagrangian_fixing(
    a: sp.csr_array,
    w: np.ndarray,
    k: int,
    plan: np.ndarray,
    threshold: float,
    stats: dict[str, Any],
    offset: float = 0.0,
    iterations: int = _ITERATIONS,
    value: float | None = None,
) -> tuple[float, np.ndarray, np.ndarray]:
    """Deflected subgradient on ``L(u)`` with Polyak steps towards the incumbent, then site fixing.

    Each step moves along ``(1 − _DEFLECTION)`` times the subgradient plus
    ``_DEFLECTION`` times the last direction; any ``u`` gives a valid bound,
    so the steps only decide how tight it gets.

    Parameters
    ----------
    a
        Demand groups × free sites, 0/1.
    w
        Group weights.
    k
        Sites to open among the free ones (``0 < k < number of free sites``).
    plan
        The incumbent (mask over the free sites, ``k`` of them).
    threshold
        The value a plan needs to be worth keeping (incumbent + 1 with integer weights).
    stats
        Gets ``lagrangian_bound`` (plus ``offset``), iterations and seconds.
    offset
        Weight covered anyway, only added to the values in ``stats``.
    iterations
        Subgradient steps.
    value
        The incumbent's covered weight over these groups, if the caller holds it
        (computed from ``plan`` otherwise).

    Returns
    -------
    (best bound, sites to fix closed, sites to fix open) over the free sites
        The bound is the smallest ``L(u)`` met, an upper bound on every plan;
        a fixed site is fixed the incumbent's way (closed where the incumbent
        has it closed), so the incumbent obeys every fixing.
    """
    t0 = time.perf_counter()
    a = sp.csr_array(a, dtype=np.float64)
    at = sp.csr_array(a.T)
    w = np.asarray(w, dtype=np.float64)
    if value is None:
        value = float(w[(a @ plan.astype(np.float64)) > 0].sum())
    # Start at half the price of a group whose cover were spread evenly over the k open sites; a
    # multiplier above its group's weight only raises the site prices, so each stays in [0, w_g].
    deg = np.diff(a.indptr).astype(np.float64)
    u = 0.5 * w / np.maximum(1.0, deg * k / a.shape[1])
    best, best_u = float(w.sum()), np.zeros_like(w)  # L(0): all the weight
    step, stall = _STEP0, 0
    direction: np.ndarray | None = None
    for _ in range(iterations):
        bound, c, top = _bound_parts(at, w, u, k)
        if bound < best - 1e-9 * abs(best):
            best, best_u, stall = bound, u, 0
        else:
            stall += 1
            if stall >= _STALL:
                step, stall = step / 2.0, 0
        if best < threshold or step < 1e-4:
            break
        x = np.zeros(a.shape[1])
        x[top] = 1.0
        g = a @ x - (w > u)
        if direction is not None:
            g = (1.0 - _DEFLECTION) * g + _DEFLECTION * direction
        direction = g
        norm = float(g @ g)
        if norm == 0.0:
            break
        u = np.clip(u - step * (bound - value) / norm * g, 0.0, w)
    bound, c, top = _bound_parts(at, w, best_u, k)
    # Floating sums of ~1e5 terms: keep a margin far above their rounding error.
    margin = 1e-9 * (float(w.sum()) + float(np.abs(c[top]).sum()))
    bound += margin
    c_k = float(c[top].min())  # the k-th largest
    rest = np.ones(len(c), dtype=bool)
    rest[top] = False
    c_next = float(c[rest].max()) if rest.any() else -math.inf
    in_top = ~rest
    open_bound = np.where(in_top, bound, bound - c_k + c)  # the site forced open
    closed_bound = np.where(in_top, bound - c + c_next, bound)  # the site forced closed
    fix_closed = ~plan & (open_bound < threshold)
    fix_open = plan & (closed_bound < threshold)
    if bound < threshold:  # no plan beats the incumbent: every site its way
        fix_closed, fix_open = ~plan, plan.copy()
    stats["lagrangian_bound"] = bound + offset
    stats["lagrangian_seconds"] = time.perf_counter() - t0
    stats["lagrangian_fixed_closed"] = int(fix_closed.sum())
    stats["lagrangian_fixed_open"] = int(fix_open.sum())
    return bound, fix_closed, fix_open
