"""The MCLP reduction engine: LP-guided incumbent, interchange search, certified site fixing."""

from __future__ import annotations

import math
import os
import threading
import time
from typing import Any

import highspy
import numpy as np
import scipy.sparse as sp

from ..solvers.highs import highs_lp, new_highs
from ._mclp_lagrange import lagrangian_fixing
from ._mclp_probe import _ProbeLp
from .base import _merge_rows


def _mclp_greedy(
    b: sp.csr_array, wg: np.ndarray, p: int, fixed: np.ndarray, dropped: np.ndarray
) -> tuple[np.ndarray, float] | None:
    """Greedy MCLP plan on the reduced coverage: repeatedly open the site covering most new weight.

    Returns ``(site indices, covered weight of the model's groups)``; ``O(p · nnz)`` with sparse products.
    """
    bc = sp.csc_array(b)
    m = b.shape[1]
    chosen: list[int] = np.flatnonzero(fixed).tolist()
    uncovered = np.ones(b.shape[0], dtype=bool)
    if chosen:
        uncovered &= np.asarray(bc[:, chosen].sum(axis=1)).ravel() == 0
    blocked = dropped.copy()
    blocked[chosen] = True
    while len(chosen) < p and not blocked.all():
        gain = bc.T @ (wg * uncovered)
        gain[blocked] = -1.0
        j = int(np.argmax(gain))
        chosen.append(j)
        blocked[j] = True
        col = bc.indices[bc.indptr[j] : bc.indptr[j + 1]]
        uncovered[col] = False
    if len(chosen) < p:
        return None
    return np.array(chosen[:m]), float(wg[~uncovered].sum())


# --------------------------------------------------------------------------- MCLP: incumbent and exact fixing

# Beyond this many coverage pairs (merged model) no LP relaxation is solved at build time: the
# 50,000 x 5,000 scaling model (2.1M pairs) would need minutes for its root LP alone.
_MCLP_LP_MAX_PAIRS = 400_000
# Flops budget of the interchange local search (per run), and cap on its dense gain matrix.
_MCLP_SWAP_WORK = 3e8
_MCLP_SWAP_MAX_CELLS = 20_000_000
# Probing budget in simplex iterations: this many times the root LP's (so probing costs at most
# about that many root LP solves), but at least the floor (small models).
_MCLP_PROBE_ITER_FACTOR = 25
_MCLP_PROBE_ITER_FLOOR = 20_000
# Probes are solved in batches; each batch runs on up to this many threads against the same
# state, so the fixings do not depend on thread timing.
_MCLP_PROBE_BATCH = 16
_MCLP_PROBE_THREADS = max(1, min(2, os.cpu_count() or 1))
# Simplex iterations after which a probe first checks its certified bound (a dual simplex
# iterate already bounds the probe; most hopeless sites are proven within ~40 iterations).
_MCLP_PROBE_EARLY_ITERS = 40
# The probe LP (optimizer.locate._mclp_probe) is rebuilt, smaller, once this share of its free
# sites has been fixed since it was built.
_MCLP_PROBE_REBUILD_SHARE = 0.1
# Iterated local search: kicks, and the work budget (coverage pairs + gain-matrix cells per kick)
# that caps them on larger models.
_MCLP_ILS_ITERATIONS = 200
_MCLP_ILS_WORK = 1e8
# Above _MCLP_LP_MAX_PAIRS no LP runs, so the search is the only source of better plans (HiGHS,
# still in its root LP after 300 s, finds none on the 50,000 x 5,000 scaling models): a larger
# budget there, about 200 kicks (20-40 s) at that size.
_MCLP_ILS_WORK_NO_LP = 5e8
# ... and it stops after this many kicks in a row without a better plan.
_MCLP_ILS_STALL = 100
# Kicks of the iterated local search within the fixings after each probing round.
_MCLP_ILS_ROUND_ITERATIONS = 100
# A probing round ends early when fewer than this share of its last window of probes fixed a
# site: probes come likeliest-first, so the rest of the round would mostly be wasted LP solves.
_MCLP_PROBE_WINDOW = 48
_MCLP_PROBE_MIN_YIELD = 0.1
# Share of the gap (LP bound - threshold) a round must close to earn another round.
_MCLP_ROUND_MIN_PROGRESS = 0.05


def _mclp_local_search(
    a: sp.csr_array,
    w: np.ndarray,
    open_: np.ndarray,
    locked: np.ndarray,
    allowed: np.ndarray,
    max_passes: int | None = None,
    transposes: tuple[sp.csc_array, sp.csr_array] | None = None,
) -> tuple[np.ndarray, float, np.ndarray]:
    """Best-improvement interchange ("fast swap") for MCLP, to a local optimum.

    Parameters
    ----------
    a
        Groups x sites 0/1 coverage (CSR).
    w
        Group weights.
    open_
        Start plan (mask over the sites); it keeps its size.
    locked
        Open sites that may not leave the plan (predefined).
    allowed
        Sites that may enter the plan.
    max_passes
        Cap on the swaps made (default: from :data:`_MCLP_SWAP_WORK`); 0
        only evaluates ``flip``.
    transposes
        ``(a as CSC, aᵀ as CSR)`` when the caller already has them (repeated calls).

    Returns
    -------
    (plan mask, covered weight, flip) — ``flip[j]`` is the best change in
    covered weight of one swap through site ``j`` from the returned plan
    (``-inf`` where none is possible); all ``<= 0`` at a local optimum.

    Notes
    -----
    With cover counts ``c`` of the plan ``S``: opening ``j`` gains
    ``add_j = Σ_{g∋j, c_g=0} w_g``, closing ``k`` loses
    ``loss_k = Σ_{g∋k, c_g=1} w_g``, and the swap (``j`` in, ``k`` out)
    changes the covered weight by ``add_j − loss_k + M_jk`` with
    ``M = Aᵀ · diag(w·[c=1]) · A_S`` (groups only ``k`` covers that ``j``
    covers too). ``A_S`` restricted to ``c = 1`` has one entry per row (the
    row's only open site, its *owner*), so ``M`` is one weighted count over
    the coverage pairs of those rows and a pass costs ``O(nnz(A) + |sites|·|S|)``
    in a few vectorised numpy calls (no sparse products).
    """
    if transposes is None:
        a = sp.csr_array(a, dtype=np.float64)
        acsc = a.tocsc()
    else:
        acsc = transposes[0]
    n_sites = a.shape[1]
    plan = open_.copy()
    c = a @ plan.astype(np.float64)
    flip = np.full(n_sites, -np.inf)
    size = int(plan.sum())
    if size == 0 or size * n_sites > _MCLP_SWAP_MAX_CELLS:
        return plan, float(w[c > 0].sum()), flip
    if max_passes is None:
        max_passes = max(1, int(_MCLP_SWAP_WORK / (a.nnz + n_sites * size + 1)))
    eps = 1e-9 * max(1.0, float(w.sum()))
    # The coverage pairs (group, site) and each pair's group weight.
    pair_group = np.repeat(np.arange(a.shape[0]), np.diff(a.indptr))
    pair_site = a.indices
    pair_w = w[pair_group]
    for swaps in range(max_passes + 1):
        open_idx = np.flatnonzero(plan)
        slot = np.zeros(n_sites)
        slot[open_idx] = np.arange(1, size + 1)
        owner = (a @ slot).astype(np.int64) - 1  # the open site's slot, for groups with c = 1
        one = c == 1
        # (np.bincount of nothing is an integer array: cast.)
        add = np.bincount(pair_site, weights=pair_w * (c[pair_group] == 0), minlength=n_sites).astype(np.float64)
        loss = np.bincount(owner[one], weights=w[one], minlength=size).astype(np.float64)
        sel = one[pair_group]
        gain = np.bincount(
            pair_site[sel] * size + owner[pair_group[sel]], weights=pair_w[sel], minlength=n_sites * size
        ).astype(np.float64)
        gain = gain.reshape(n_sites, size)
        gain += add[:, None]
        gain -= loss[None, :]
        gain[plan | ~allowed, :] = -np.inf
        gain[:, locked[open_idx]] = -np.inf
        best = int(np.argmax(gain))
        j, r = divmod(best, len(open_idx))
        if not gain[j, r] > eps or swaps == max_passes:
            flip[:] = gain.max(axis=1)
            flip[open_idx] = gain.max(axis=0)
            break
        k = open_idx[r]
        plan[j], plan[k] = True, False
        c[acsc.indices[acsc.indptr[j] : acsc.indptr[j + 1]]] += 1
        c[acsc.indices[acsc.indptr[k] : acsc.indptr[k + 1]]] -= 1
    return plan, float(w[c > 0].sum()), flip


def ils_kicks(cap: int, work: float, pairs: int, n_sites: int, k: int) -> int:
    """Kicks of an iterated local search: ``cap``, or fewer on large models.

    Each kick costs about the coverage ``pairs`` plus the ``n_sites × k``
    cells of the interchange's gain matrix; ``work`` caps their total.
    """
    return int(min(cap, work / max(1, pairs + n_sites * k)))


def site_overlap(at: sp.csr_array, a: sp.csr_array) -> sp.csr_array:
    """Sites x sites, 1 where two sites cover a common group (``at`` = ``aᵀ``): what :func:`kick_sites` reads."""
    overlap = sp.csr_array(at @ a)
    overlap.data[:] = 1.0
    return overlap


def kick_sites(overlap: sp.csr_array, plan: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The sites an iterated local search closes: up to 3 open ones near a random open site.

    Near means sharing demand within two steps of ``overlap`` (sites x sites,
    non-zero where two sites cover a common group). Swap-optimal plans are
    often stuck where neighbouring facilities must move together.
    """
    opened = np.flatnonzero(plan)
    e = np.zeros(len(plan))
    e[int(rng.choice(opened))] = 1.0
    near = (overlap @ (overlap @ e)) > 0
    cand = opened[near[opened]]
    return rng.choice(cand, min(3, len(cand)), replace=False)


class _MclpRelaxation:
    """LP relaxation of the merged MCLP over its free sites, in highspy (bounds, dives, probing).

    Columns ``[y (free sites) | z (groups)]``, rows ``z_g − Σ_{j covers g} y_j <= 0`` and
    ``Σ y = k``; maximise ``Σ w_g z_g``. Every bound it reports is *certified*: it is
    recomputed from the row duals ``u`` as the Lagrangian bound (cover rows relaxed)

        L(u) = Σ_g max(0, w_g − u_g) + Σ_{y_j fixed 1} s_j + (sum of the largest
               k − #fixed-1 values s_j over the unfixed sites),   s = Aᵀu,

    which is an upper bound on every plan obeying the current fixings for *any* ``u >= 0``:
    for such a plan ``Σ w_g z_g <= Σ w_g z_g + Σ_g u_g (Σ_{j covers g} y_j − z_g)
    = Σ_g (w_g − u_g) z_g + Σ_j s_j y_j``, and maximising the two sums separately over
    ``z ∈ [0, 1]`` and over ``y`` with the fixings and ``Σ y = k`` gives ``L(u)``. So a
    bound does not rely on the LP solver's tolerances or on the duals being optimal —
    an iteration-limited dual simplex iterate is good enough — and at the LP optimum it
    equals the LP value.
    """

    def __init__(self, a: sp.csr_array, w: np.ndarray, k: int):

        self.a = sp.csr_array(a, dtype=np.float64)
        self.at = sp.csr_array(self.a.T)
        self.w = np.asarray(w, dtype=np.float64)
        self.k = int(k)
        self.ng, self.ns = self.a.shape
        self.lo = np.zeros(self.ns)
        self.up = np.ones(self.ns)
        self.iterations = 0
        self.runs = 0
        self._highspy = highspy
        h = new_highs(False)
        h.setOptionValue("output_flag", False)
        # Warm-started re-solves after bound changes: presolve would discard the basis.
        h.setOptionValue("presolve", "off")
        inf = highspy.kHighsInf
        ng, ns = self.ng, self.ns
        mat = sp.vstack(
            [
                sp.hstack([-self.a, sp.identity(ng, format="csr")]),
                sp.hstack([sp.csr_array(np.ones((1, ns))), sp.csr_array((1, ng))]),
            ],
            format="csc",
        )
        lp = highs_lp(
            np.concatenate([np.zeros(ns), self.w]),
            (np.zeros(ns + ng), np.ones(ns + ng)),
            (np.concatenate([np.full(ng, -inf), [float(self.k)]]), np.concatenate([np.zeros(ng), [float(self.k)]])),
            mat,
            maximize=True,
        )
        h.passModel(lp)
        self.h = h
        self.basis: highspy.HighsBasis | None = None  # the base basis, set by solve()
        self.u = np.zeros(ng)
        self.y = np.zeros(ns)
        self.value = math.inf
        self._k_dual = 0.0
        # Dual of the row Σ y = k at the base (with u and y: the base solution, which warm-starts
        # the probe LP, optimizer.locate._mclp_probe).
        self.k_dual = 0.0

    def set_bounds(self, j: int, lo: float, up: float) -> None:
        self.lo[j], self.up[j] = lo, up
        self.h.changeColBounds(int(j), float(lo), float(up))

    def _run(self, iteration_limit: int | None) -> np.ndarray:
        """Run the dual simplex (warm); return the cover rows' duals (zeros if HiGHS gave none —
        the certificate stays valid, only weak)."""
        h = self.h
        h.setOptionValue("simplex_iteration_limit", int(iteration_limit) if iteration_limit else 2**31 - 1)
        h.run()
        self.runs += 1
        self.iterations += max(0, int(h.getInfo().simplex_iteration_count))
        duals = np.asarray(h.getSolution().row_dual, dtype=np.float64)
        self._k_dual = float(duals[self.ng]) if len(duals) > self.ng else 0.0
        return duals[: self.ng] if len(duals) > self.ng else np.zeros(self.ng)

    def certified(self, u: np.ndarray, lo: np.ndarray, up: np.ndarray) -> float:
        """The Lagrangian bound L(u) for the fixings ``lo``/``up`` (``-inf``: no plan obeys them)."""
        u = np.maximum(u, 0.0)
        s = self.at @ u
        forced = lo > 0.5
        need = self.k - int(forced.sum())
        free = ~forced & (up > 0.5)
        n_free = int(free.sum())
        if need < 0 or need > n_free:
            return -math.inf
        total = float(np.maximum(self.w - u, 0.0).sum() + s[forced].sum())
        if need:
            sf = s[free]
            total += float(np.partition(sf, n_free - need)[n_free - need :].sum())
        return total

    def solve(self) -> float:
        """Solve (warm) under the current fixings; keep the basis as the base for probes and dives."""
        if self.basis is not None:
            self.h.setBasis(self.basis)
        u = self._run(None)
        self.basis = self.h.getBasis()
        y = np.asarray(self.h.getSolution().col_value, dtype=np.float64)[: self.ns]
        self.y = y if len(y) == self.ns else np.zeros(self.ns)
        self.u = np.maximum(u, 0.0)
        self.k_dual = self._k_dual
        self.value = self.certified(u, self.lo, self.up)
        return self.value

    def reduced_cost_tests(self, plan: np.ndarray, threshold: float) -> list[int]:
        """Free sites whose flip away from ``plan`` has a certified bound below ``threshold``.

        Uses the base duals ``u`` for every site at once (no LP solve): with
        ``t`` the values ``s = Aᵀu`` of the free sites sorted downwards and
        ``need`` free sites to pick, forcing a site outside the top ``need``
        open replaces ``t_need`` by ``s_j`` in L(u), forcing one inside it
        closed replaces ``s_j`` by ``t_{need+1}`` — the same bound as
        :meth:`certified` with that one fixing added.
        """
        free = np.flatnonzero((self.lo < 0.5) & (self.up > 0.5))
        if not len(free) or not math.isfinite(self.value):
            return []
        s = self.at @ self.u
        forced = self.lo > 0.5
        need = self.k - int(forced.sum())
        sf = s[free]
        order = np.argsort(-sf, kind="stable")
        top = np.zeros(len(free), dtype=bool)
        top[order[:need]] = True
        base = self.value
        t_need = sf[order[need - 1]] if need > 0 else math.inf
        t_next = sf[order[need]] if need < len(free) else -math.inf
        # Force open (sites outside the plan) / force closed (sites in the plan).
        b_open = np.where(top, base, base - t_need + sf)
        b_close = np.where(top, base - sf + t_next, base)
        bound = np.where(plan[free], b_close, b_open)
        return [int(j) for j in free[bound < threshold]]

    def probe(self, j: int, value: float, threshold: float) -> float:
        """Certified bound on the plans obeying the fixings with ``y_j = value`` (early exit below ``threshold``)."""
        lo, up = self.lo.copy(), self.up.copy()
        lo[j] = up[j] = value
        if self.certified(np.zeros(self.ng), lo, up) == -math.inf:
            return -math.inf  # cardinality alone rules it out
        h = self.h
        assert self.basis is not None, "probes start from the base basis: solve() first"
        h.setBasis(self.basis)
        h.changeColBounds(int(j), float(value), float(value))
        try:
            u = self._run(_MCLP_PROBE_EARLY_ITERS)
            bound = self.certified(u, lo, up)
            if bound >= threshold and h.getModelStatus() == self._highspy.HighsModelStatus.kIterationLimit:
                u = self._run(None)
                bound = min(bound, self.certified(u, lo, up))
        finally:
            h.changeColBounds(int(j), float(self.lo[j]), float(self.up[j]))
        return bound

    def dive(self) -> np.ndarray | None:
        """LP diving: open the largest fractional site, re-solve, until the LP plan is integral.

        Returns the plan (mask over the free sites) or None; the relaxation's
        bounds and base basis are restored afterwards.
        """
        saved_lo, saved_up, saved_basis = self.lo.copy(), self.up.copy(), self.basis
        saved_y, saved_value, saved_u, saved_k_dual = self.y, self.value, self.u, self.k_dual
        try:
            y = self.y
            for _ in range(self.k + 1):
                frac = np.flatnonzero((y > 1e-6) & (y < 1 - 1e-6))
                if not len(frac):
                    plan = y > 0.5
                    return plan if int(plan.sum()) == self.k else None
                j = int(frac[np.argmax(y[frac])])
                self.set_bounds(j, 1.0, 1.0)
                if self.solve() == -math.inf:
                    return None
                y = self.y
            return None
        finally:
            for changed in np.flatnonzero((self.lo != saved_lo) | (self.up != saved_up)):
                self.set_bounds(int(changed), saved_lo[changed], saved_up[changed])
            self.basis, self.y, self.value, self.u = saved_basis, saved_y, saved_value, saved_u
            self.k_dual = saved_k_dual


class _MclpReducer:
    """Incumbent and exact site fixing for a merged MCLP over its free sites (see :class:`MCLP`).

    Keeps the invariant: every plan worth keeping — value ``>= threshold``,
    i.e. strictly better than the incumbent with integer weights, at least as
    good otherwise — obeys all fixings made so far. Each fixing is proven by a
    certified LP bound below the threshold (:class:`_MclpRelaxation`), and a
    better incumbent found later only raises the threshold, so earlier
    fixings stay valid and the new incumbent obeys them.
    """

    def __init__(self, a: sp.csr_array, w: np.ndarray, k: int, stats: dict[str, Any], offset: float = 0.0):
        self.a = sp.csr_array(a, dtype=np.float64)
        self.w = np.asarray(w, dtype=np.float64)
        self.k = int(k)
        self.ns = self.a.shape[1]
        self.stats = stats
        self.offset = offset
        acsc = self.a.tocsc()
        self._transposes = (acsc, sp.csr_array(acsc.T))
        self.integral = bool(np.all(self.w == np.round(self.w)) and self.w.sum() < 2.0**52)
        self.plan = np.zeros(self.ns, dtype=bool)
        self.value = -math.inf
        self.flip = np.full(self.ns, -np.inf)
        self.relax: _MclpRelaxation | None = None
        # Probing's LPs (one per thread), their iterations before the last rebuild, and builds.
        self._probers: list[_ProbeLp] = []
        self._prober_iterations = 0
        self._prober_builds = 0

    @property
    def threshold(self) -> float:
        eps = 1e-9 * max(1.0, abs(self.value))
        return self.value + 1.0 - eps if self.integral else self.value - eps

    def offer(self, plan: np.ndarray | None, source: str) -> bool:
        """Improve ``plan`` by local search (within the fixings) and keep it if it beats the incumbent."""
        if plan is None or int(plan.sum()) != self.k:
            return False
        if self.relax is not None:
            locked, allowed = self.relax.lo > 0.5, self.relax.up > 0.5
            if (plan & ~allowed).any() or (locked & ~plan).any():
                return False
        else:
            locked, allowed = np.zeros(self.ns, dtype=bool), np.ones(self.ns, dtype=bool)
        plan, value, flip = _mclp_local_search(self.a, self.w, plan, locked, allowed, transposes=self._transposes)
        return self._record(plan, value, flip, source)

    def _record(self, plan: np.ndarray, value: float, flip: np.ndarray, source: str) -> bool:
        if not value > self.value + 1e-9 * max(1.0, abs(value)):
            return False
        self.plan, self.value, self.flip = plan, value, flip
        self.stats.setdefault("incumbent_sources", []).append(f"{source}: {value + self.offset:g}")
        return True

    def iterated_local_search(self, iterations: int, seed: int = 0) -> None:
        """Iterated local search around the incumbent: close up to 3 open sites near each other
        (sharing demand within two overlap steps), refill greedily, interchange to a local optimum,
        accept when not worse. Swap-optimal MCLP plans are often stuck because two neighbouring
        facilities must move together; a local kick moves them. Seeded: reproducible."""
        if self.k < 2 or iterations <= 0:
            return
        rng = np.random.default_rng(seed)
        a = self.a
        acsc, at = self._transposes
        ov = site_overlap(at, a)
        none = np.zeros(self.ns, dtype=bool)
        allowed = np.ones(self.ns, dtype=bool)
        cur, cur_val = self.plan.copy(), self.value
        stall = 0
        total = float(self.w.sum())
        for _ in range(iterations):
            if stall >= _MCLP_ILS_STALL or self.value >= total:  # all the weight: nothing better exists
                break
            stall += 1
            out = kick_sites(ov, cur, rng)
            plan = cur.copy()
            plan[out] = False
            uncovered = (a @ plan.astype(np.float64)) == 0
            banned = plan.copy()
            banned[out] = True
            for _ in range(len(out)):
                gain = at @ (self.w * uncovered)
                gain[banned] = -1.0
                j = int(np.argmax(gain))
                plan[j] = banned[j] = True
                uncovered[acsc.indices[acsc.indptr[j] : acsc.indptr[j + 1]]] = False
            plan, value, flip = _mclp_local_search(a, self.w, plan, none, allowed, transposes=(acsc, at))
            if value > cur_val:
                stall = 0
            if value >= cur_val:  # plateaus are walked: equal plans may lead on
                cur, cur_val = plan, value
            self._record(plan, value, flip, "iterated local search")

    def search_within_fixings(self, locked: np.ndarray, allowed: np.ndarray, iterations: int, seed: int) -> None:
        """:meth:`iterated_local_search` on the model the fixings leave, offering what it finds.

        Sites ``locked`` stay open and only ``allowed`` ones may enter; the
        groups the locked sites cover and the sites decided leave the model,
        and groups with the same remaining covering sites merge, so each kick
        costs a fraction of a kick on the whole model. The incumbent obeys the
        fixings, so it is the start.
        """
        free = np.flatnonzero(allowed & ~locked)
        k_free = self.k - int(locked.sum())
        if k_free < 2 or k_free >= len(free) or iterations <= 0:
            return
        covered = (self.a @ locked.astype(np.float64)) > 0
        rest = sp.csr_array(sp.csr_array(self.a[np.flatnonzero(~covered)])[:, free])
        live = np.flatnonzero(np.diff(rest.indptr) > 0)
        rest = sp.csr_array(rest[live])
        codes, first = _merge_rows(rest)
        weight = np.bincount(codes, weights=self.w[np.flatnonzero(~covered)][live], minlength=len(first))
        inner = _MclpReducer(sp.csr_array(rest[first]), weight, k_free, {})
        inner.plan = self.plan[free].copy()
        inner.value = float(weight[(inner.a @ inner.plan.astype(np.float64)) > 0].sum())
        start = inner.value
        inner.iterated_local_search(iterations, seed)
        if inner.value > start:
            plan = locked.copy()
            plan[free[inner.plan]] = True
            self.offer(plan, "iterated local search within the fixings")

    def probe_all(self, iteration_budget: int) -> None:
        """Fix sites by LP probing, in rounds, with dives for better incumbents between rounds.

        For a site outside the incumbent the bound with the site forced open is
        computed, for a site in it the bound with it forced closed; a bound
        below the threshold fixes the site the incumbent's way. Probes run in
        batches of :data:`_MCLP_PROBE_BATCH` on up to
        :data:`_MCLP_PROBE_THREADS` threads, each probe of a batch against the
        state at the batch start, so the result does not depend on thread timing.
        """
        relax = self.relax
        assert relax is not None, "probe_all needs the LP relaxation (set self.relax first)"
        workers = [relax]
        start_iters = relax.iterations
        probes = rounds = 0
        exhausted = False
        self._probers, self._prober_iterations, self._prober_builds = [], 0, 0

        def spent() -> int:
            return relax.iterations - start_iters + self._prober_iterations + sum(p.iterations for p in self._probers)

        if relax.value < self.threshold:
            self.fix_all_to_incumbent(workers)
            exhausted = True
        while not exhausted:
            rounds += 1
            fixed_this_round = 0
            lp_start, value_start = relax.value, self.value
            free = (relax.lo < 0.5) & (relax.up > 0.5)
            # Sites the LP uses first (fixing them lowers the LP bound for every later probe),
            # then the ones whose best swap loses most (likeliest to be fixed, cheapest to prove),
            # then the incumbent's own sites (probed closed).
            cls = np.where(self.plan, 2, np.where(relax.y > 1e-9, 0, 1))
            ranked = np.lexsort((self.flip, cls))
            ranked = ranked[free[ranked]]
            for c in (0, 1, 2):
                members = [int(j) for j in ranked if cls[j] == c]
                outcomes: list[bool] = []
                for b0 in range(0, len(members), _MCLP_PROBE_BATCH):
                    recent = outcomes[-_MCLP_PROBE_WINDOW:]
                    if len(recent) == _MCLP_PROBE_WINDOW and sum(recent) < _MCLP_PROBE_MIN_YIELD * len(recent):
                        break  # this class has stopped paying off in this round
                    if spent() > iteration_budget:
                        exhausted = True
                        break
                    fixed = self._probe_batch(members[b0 : b0 + _MCLP_PROBE_BATCH], outcomes)
                    probes += len(members[b0 : b0 + _MCLP_PROBE_BATCH])
                    fixed_this_round += fixed
                    if fixed and relax.value < self.threshold:
                        self.fix_all_to_incumbent(workers)
                        exhausted = True
                    if exhausted:
                        break
                if exhausted:
                    break
            if not fixed_this_round or exhausted:
                break
            # The fixed LP is tighter: a dive from it is a better incumbent candidate, and the
            # fixings narrow the local search (its plans obey them).
            self.offer(relax.dive(), f"dive after probing round {rounds}")
            kicks = ils_kicks(_MCLP_ILS_ROUND_ITERATIONS, _MCLP_ILS_WORK, self.a.nnz, self.ns, self.k)
            self.search_within_fixings(relax.lo > 0.5, relax.up > 0.5, kicks, seed=rounds)
            if self.value > value_start:
                if relax.value < self.threshold:
                    self.fix_all_to_incumbent(workers)
                    break
                self.apply(workers, relax.reduced_cost_tests(self.plan, self.threshold))
            # Another round re-probes the sites that failed; worth it only when the probes'
            # starting point moved: a better incumbent, or an LP bound that closed part of its gap.
            if self.value == value_start and lp_start - relax.value < _MCLP_ROUND_MIN_PROGRESS * (
                lp_start - self.threshold
            ):
                break
        self.stats["probing_rounds"] = rounds
        self.stats["probes"] = probes
        self.stats["probe_lp_iterations"] = spent()
        self.stats["probe_lp_builds"] = self._prober_builds
        self.stats["probing_stopped_by_budget"] = exhausted and bool((relax.lo < relax.up).any())
        self._probers = []  # free the HiGHS instances

    def _current_probers(self) -> list[_ProbeLp]:
        """The probe LPs (one per thread), brought up to the relaxation's fixings.

        Rebuilt from the relaxation (smaller) once the free sites have shrunk
        by :data:`_MCLP_PROBE_REBUILD_SHARE` since the last build; otherwise
        the new fixings are applied to them and their base re-solved warm.
        """
        relax = self.relax
        assert relax is not None, "probing needs the LP relaxation (set self.relax first)"
        probers = self._probers
        n_free = int(((relax.lo < 0.5) & (relax.up > 0.5)).sum())
        if not probers or n_free <= (1.0 - _MCLP_PROBE_REBUILD_SHARE) * len(probers[0].free):
            self._prober_iterations += sum(p.iterations for p in probers)
            first = _ProbeLp(relax)
            probers = [first] + [first.copy() for _ in range(_MCLP_PROBE_THREADS - 1)]
            self._probers = probers
            self._prober_builds += 1
            return probers
        changed = np.flatnonzero((probers[0].lo != relax.lo) | (probers[0].up != relax.up))
        if len(changed):
            for p in probers:
                for j in changed:
                    p.fix(int(j), float(relax.lo[j]))
            probers[0].solve_base()
            for p in probers[1:]:
                p.basis = probers[0].basis
        return probers

    def _probe_batch(self, items: list[int], outcomes: list[bool]) -> int:
        """Probe ``items`` (split over the threads, all against the current state); apply the fixings.

        Appends one outcome per probe to ``outcomes``; returns the number of sites fixed.
        """
        relax = self.relax
        assert relax is not None, "probing needs the LP relaxation (set self.relax first)"
        items = [j for j in items if relax.lo[j] < 0.5 and relax.up[j] > 0.5]
        if not items:
            return 0
        workers = self._current_probers()
        plan, threshold = self.plan, self.threshold
        results: dict[int, float] = {}

        errors: list[Exception] = []

        def work(wk: _ProbeLp, part: list[int]) -> None:
            try:
                for j in part:
                    results[j] = wk.probe(j, 0.0 if plan[j] else 1.0, threshold)
            except Exception as exc:  # noqa: BLE001 - re-raised in the calling thread
                errors.append(exc)

        n = len(workers)
        # HiGHS releases the GIL while it solves, so the probes of a batch really run in parallel.
        threads = [threading.Thread(target=work, args=(workers[i], items[i::n]), daemon=True) for i in range(1, n)]
        for t in threads:
            t.start()
        work(workers[0], items[0::n])
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        newly = [j for j in items if results[j] < threshold]
        outcomes.extend(results[j] < threshold for j in items)
        if newly:
            self.apply([relax], newly)
        return len(newly)

    def apply(self, workers: list[_MclpRelaxation], sites: list[int]) -> None:
        """Fix ``sites`` the incumbent's way in every worker, re-solve the base LP, and repeat
        with the reduced-cost tests of the new base duals while they fix something."""
        relax = workers[0]
        while sites:
            for wk in workers:
                for j in sites:
                    v = 1.0 if self.plan[j] else 0.0
                    wk.set_bounds(j, v, v)
            relax.solve()
            for wk in workers[1:]:
                wk.basis, wk.y, wk.value, wk.u = relax.basis, relax.y, relax.value, relax.u
            if relax.value < self.threshold:
                return
            sites = relax.reduced_cost_tests(self.plan, self.threshold)
            self.stats["reduced_cost_fixings"] = self.stats.get("reduced_cost_fixings", 0) + len(sites)

    def fix_all_to_incumbent(self, workers: list[_MclpRelaxation]) -> None:
        # LP bound below the threshold: no plan worth keeping differs from the incumbent.
        assert self.relax is not None, "fixing needs the LP relaxation (set self.relax first)"
        for j in np.flatnonzero(self.relax.lo < self.relax.up):
            v = 1.0 if self.plan[j] else 0.0
            for wk in workers:
                wk.set_bounds(int(j), v, v)


def _mclp_reduce(
    a_full: sp.csr_array,
    w: np.ndarray,
    p: int,
    pre: np.ndarray,
    dropped: np.ndarray,
    greedy_sites: np.ndarray | None,
    offset: float,
    stats: dict[str, Any],
) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """Incumbent and exact site fixing for the merged exact-``p`` MCLP (see :class:`MCLP`).

    Parameters
    ----------
    a_full
        Demand groups × sites coverage of the groups some site reaches
        (predefined and dropped sites have empty columns).
    w
        Group weights.
    p
        Number of open sites, predefined included.
    pre, dropped
        Predefined sites; sites already removed (dominance).
    greedy_sites
        The greedy plan's sites (start of the first local search).
    offset
        Weight covered anyway (by predefined sites), only for the values in ``stats``.
    stats
        Filled with what was done.

    Returns
    -------
    (incumbent mask over the sites, its covered group weight, sites fixed closed, sites fixed open)
        Every plan strictly better than the incumbent (integer weights) or at
        least as good (other weights) obeys the fixings, and so does the
        incumbent itself, so a model restricted by them keeps an optimum.
    """
    t0 = time.perf_counter()
    m = a_full.shape[1]
    free_idx = np.flatnonzero(~pre & ~dropped)
    k = p - int(pre.sum())
    fix0 = np.zeros(m, dtype=bool)
    fix1 = np.zeros(m, dtype=bool)
    a = sp.csr_array(a_full[:, free_idx], dtype=np.float64)
    nf = len(free_idx)

    def to_mask(local: np.ndarray) -> np.ndarray:
        mask = pre.copy()
        mask[free_idx[local]] = True
        return mask

    red = _MclpReducer(a, w, k, stats, offset)
    if k <= 0 or k >= nf:  # nothing to choose
        plan = np.zeros(nf, dtype=bool)
        plan[: max(k, 0)] = True
        return to_mask(plan), float(w[(a @ plan.astype(np.float64)) > 0].sum()), fix0, fix1
    start = np.zeros(nf, dtype=bool)
    if greedy_sites is not None:
        start[np.isin(free_idx, greedy_sites)] = True
    if int(start.sum()) != k:
        start[:] = False
        start[np.argsort(-np.asarray(a.sum(axis=0)).ravel(), kind="stable")[:k]] = True
    red.offer(start, "greedy")
    if a.nnz > _MCLP_LP_MAX_PAIRS:
        # Too large for the LP: improve the incumbent by search, fix by Lagrangian bounds against
        # it, and where that shrinks the model below the limit, run the LP reductions on what is left.
        red.iterated_local_search(ils_kicks(_MCLP_ILS_ITERATIONS, _MCLP_ILS_WORK_NO_LP, a.nnz, nf, k))
        _, close, keep_open = lagrangian_fixing(a, w, k, red.plan, red.threshold, stats, offset, value=red.value)
        fix0[free_idx[close]] = True
        fix1[free_idx[keep_open]] = True
        if keep_open.any() or close.any():
            smaller = _reduce_after_fixing(a_full, w, p, pre, dropped, fix0, fix1, to_mask(red.plan), offset, stats)
            if smaller is not None:
                stats["reduction_seconds"] = time.perf_counter() - t0
                return smaller
        stats["lp_reductions"] = f"skipped (more than {_MCLP_LP_MAX_PAIRS:,} coverage pairs)"
        stats["sites_fixed_closed"] = int(fix0.sum())
        stats["sites_fixed_open"] = int(fix1.sum())
        stats["reduction_seconds"] = time.perf_counter() - t0
        return to_mask(red.plan), red.value, fix0, fix1
    relax = _MclpRelaxation(a, w, k)
    root = relax.solve()
    root_iters = relax.iterations
    stats["lp_bound"] = root + offset
    stats["lp_iterations"] = root_iters
    rounded = np.zeros(nf, dtype=bool)
    rounded[np.argsort(-relax.y, kind="stable")[:k]] = True
    red.offer(rounded, "LP rounding")
    red.relax = relax
    red.offer(relax.dive(), "LP dive")
    if root >= red.threshold:  # the incumbent may not be optimal: look harder before probing
        red.iterated_local_search(ils_kicks(_MCLP_ILS_ITERATIONS, _MCLP_ILS_WORK, a.nnz, nf, k))
    if root < red.threshold:
        red.fix_all_to_incumbent([relax])
        stats["probing"] = "not needed (LP bound below the incumbent's threshold)"
    else:
        red.apply([relax], relax.reduced_cost_tests(red.plan, red.threshold))
        red.probe_all(max(_MCLP_PROBE_ITER_FLOOR, _MCLP_PROBE_ITER_FACTOR * root_iters))
    fix0[free_idx[relax.up < 0.5]] = True
    fix1[free_idx[relax.lo > 0.5]] = True
    stats["sites_fixed_closed"] = int(fix0.sum())
    stats["sites_fixed_open"] = int(fix1.sum())
    stats["reduction_seconds"] = time.perf_counter() - t0
    return to_mask(red.plan), red.value, fix0, fix1


def _reduce_after_fixing(
    a_full: sp.csr_array,
    w: np.ndarray,
    p: int,
    pre: np.ndarray,
    dropped: np.ndarray,
    fix0: np.ndarray,
    fix1: np.ndarray,
    incumbent: np.ndarray,
    offset: float,
    stats: dict[str, Any],
) -> tuple[np.ndarray, float, np.ndarray, np.ndarray] | None:
    """:func:`_mclp_reduce` on the model left by fixings, if it is now small enough for the LP; else ``None``.

    Groups a site fixed open covers are covered whatever the rest, so they
    leave the model (their weight joins the offset); sites fixed either way
    leave the choice. Every plan worth keeping obeys the fixings, so it is
    a plan of the smaller model with the same value, and the smaller
    model's own fixings keep all of those that are worth keeping there.
    """
    covered = np.asarray(a_full[:, np.flatnonzero(fix1)].sum(axis=1)).ravel() > 0
    decided = pre | dropped | fix0 | fix1
    rest = sp.csr_array(a_full[~covered].multiply((~decided)[None, :].astype(np.float64)))
    rest.eliminate_zeros()
    live = np.diff(rest.indptr) > 0
    rest = sp.csr_array(rest[live])
    if rest.nnz > _MCLP_LP_MAX_PAIRS:
        return None
    w_rest = w[~covered][live]
    gained = float(w[covered].sum())
    mask, value, f0, f1 = _mclp_reduce(
        rest, w_rest, p, pre | fix1, dropped | fix0, np.flatnonzero(incumbent & ~fix1), offset + gained, stats
    )
    stats["sites_fixed_closed"] = int((fix0 | f0).sum())
    stats["sites_fixed_open"] = int((fix1 | f1).sum())
    return mask | fix1, value + gained, fix0 | f0, fix1 | f1
