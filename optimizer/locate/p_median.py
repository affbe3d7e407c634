"""The p-median problem."""

from __future__ import annotations

import math
import time
from typing import Any

import geopandas as gpd
import numpy as np
import pulp
import scipy.sparse as sp

from ..errors import ModelTooLargeError
from ..solvers.highs_bulk import add_bulk_rows, bulk_affine, bulk_var
from ._validate import (
    _MAX_NONZEROS,
    _check_p,
    _dense_costs,
    _geo_inputs,
    _predefined_mask,
    _vector,
)
from .base import LocateModel, _nearest_open


def _pmedian_local_search(
    d: np.ndarray,
    w: np.ndarray,
    p: int,
    fixed: np.ndarray,
    allowed: np.ndarray,
    start: np.ndarray | None = None,
    max_iter: int = 10_000,
) -> tuple[np.ndarray, float]:
    """Greedy construction + best-improvement vertex substitution (Teitz & Bart).

    ``fixed`` sites are always open and never swapped out; only ``allowed``
    sites may enter. Swap gains are evaluated for all (in, out) pairs at once
    with one matrix product per iteration.
    """
    n = d.shape[0]
    picked = [int(j) for j in (np.flatnonzero(fixed) if start is None else start)]
    d1 = d[:, picked].min(axis=1) if picked else np.full(n, np.inf)
    while len(picked) < p:
        cand = np.where(np.isfinite(d1)[:, None], np.minimum(d, d1[:, None]), d)
        total = w @ cand
        total[picked] = np.inf
        total[~allowed] = np.inf
        j = int(np.argmin(total))
        picked.append(j)
        d1 = np.minimum(d1, d[:, j])
    sel = np.array(picked, dtype=np.int64)
    movable = ~fixed[sel]
    if p == 1 or not movable.any():
        return sel, float(w @ d[:, sel].min(axis=1))
    wpos = w > 0
    dw = d[wpos]
    ww = w[wpos]
    rr = np.arange(dw.shape[0])
    for _ in range(max_iter):
        ds = dw[:, sel]
        if len(sel) > 1:
            two = np.argpartition(ds, 1, axis=1)[:, :2]
            a, b = ds[rr, two[:, 0]], ds[rr, two[:, 1]]
            c1 = np.where(a <= b, two[:, 0], two[:, 1])
            d1, d2 = np.minimum(a, b), np.maximum(a, b)
        else:
            c1 = np.zeros(len(rr), dtype=np.int64)
            d1, d2 = ds[:, 0], np.full(len(rr), np.inf)
        near = np.minimum(dw, d1[:, None])
        gain = ww @ (near - d1[:, None])  # change from opening j (<= 0)
        loss_mat = ww[:, None] * (np.minimum(dw, d2[:, None]) - near)
        onehot = np.zeros((len(rr), len(sel)))
        onehot[rr, c1] = 1.0
        delta = gain[:, None] + loss_mat.T @ onehot  # (sites, open positions)
        delta[sel, :] = np.inf
        delta[~allowed, :] = np.inf
        delta[:, ~movable] = np.inf
        k = int(np.argmin(delta))
        j, r = divmod(k, len(sel))
        if not delta[j, r] < -1e-9 * max(1.0, float(ww @ d1)):
            break
        sel[r] = j
    return sel, float(w @ d[:, sel].min(axis=1))


def _pmedian_lagrangian(
    c: np.ndarray, p: int, fixed: np.ndarray, ub: float, lam: np.ndarray, iterations: int, stop_above: float = math.inf
) -> tuple[float, np.ndarray, np.ndarray | None]:
    """Subgradient optimisation of the Lagrangian dual (assignment rows relaxed).

    ``L(λ) = Σ λ_i + min over feasible open sets S of Σ_{j∈S} ρ_j``, with
    ``ρ_j = Σ_i min(0, c_ij − λ_i)``; any λ gives a valid lower bound.
    Returns the best bound, its λ and the best open set of the relaxation (``None`` if no
    iteration ran).
    """
    n_fixed = int(fixed.sum())
    free = np.flatnonzero(~fixed)
    k = p - n_fixed
    best, best_lam, best_set = -np.inf, lam.copy(), None
    mu, stall = 2.0, 0
    for _ in range(iterations):
        rho = np.minimum(0.0, c - lam[:, None]).sum(axis=0)
        if k > 0:
            pick = free[np.argpartition(rho[free], k - 1)[:k]] if k < len(free) else free
            chosen = np.concatenate([np.flatnonzero(fixed), pick])
        else:
            chosen = np.flatnonzero(fixed)
        value = float(lam.sum() + rho[chosen].sum())
        if value > best + 1e-9 * max(1.0, abs(best) if math.isfinite(best) else 1.0):
            best, best_lam, best_set, stall = value, lam.copy(), chosen, 0
            if best > stop_above:
                break
        else:
            stall += 1
            if stall >= 40:
                mu, stall = mu / 2, 0
        g = 1.0 - (c[:, chosen] < lam[:, None]).sum(axis=1)
        norm = float(g @ g)
        if norm == 0 or mu < 1e-4 or ub - best <= 1e-9 * max(1.0, abs(ub)):
            break
        lam = lam + mu * max(ub - value, 1e-6 * max(1.0, abs(ub))) / norm * g
    return best, best_lam, best_set


class PMedian(LocateModel):
    """p-median problem (Hakimi 1964; ReVelle & Swain 1970).

    Open exactly ``p_facilities`` sites to minimise ``Σ_i w_i · min_{j open} d_ij``
    — spopt's objective (``Σ w_i d_ij x_ij`` at an optimal assignment).

    Formulation: radius formulation (García, Labbé & Marín 2011) in
    Elloumi's (2010) incremental form. For client ``i`` with sorted distinct
    distances ``D_i^0 < D_i^1 < …`` to the sites kept, ``z_ik`` = 1 when no
    open site is nearer than ``D_i^k``; the objective is
    ``Σ_i w_i (D_i^0 + Σ_k (D_i^k − D_i^{k−1}) z_ik)`` and each level row is
    ``z_ik − z_i,k−1 + Σ_{j: d_ij = D_i^{k−1}} y_j ≥ 0`` (``z_i0 = 1``), so each
    site appears once per client. Its LP bound equals the assignment model's.

    Reductions (``reduce=True``): a greedy + interchange heuristic gives an
    incumbent of value ``UB``; subgradient optimisation of the Lagrangian dual
    gives multipliers ``λ``; a site is removed when forcing it open raises the
    Lagrangian bound above ``UB``, and a (client, site) pair when forcing the
    client onto that site does — so each client's distance is capped at the
    farthest pair left, and the levels above the cap are not built. Every plan
    of value ``<= UB`` survives, so the optimum is unchanged. When bound and
    incumbent are still more than 0.2 % apart, every surviving site is probed:
    the dual is re-optimised with the site forced open, which removes sites
    and tightens the caps further (:func:`_pmedian_probe`). ``stats`` records
    the heuristic value, the Lagrangian bound, the probing and the sizes.
    """

    sense = pulp.LpMinimize

    def __init__(
        self,
        name: str,
        *,
        costs: np.ndarray,
        weights: np.ndarray,
        p_facilities: int,
        predefined: np.ndarray,
        reduce: bool,
    ) -> None:
        """Build the model from checked inputs (see :meth:`from_cost_matrix`); ``costs`` is clients × sites."""
        t0 = time.perf_counter()
        d, w, p, pre = costs, weights, p_facilities, predefined
        n, m = d.shape
        super().__init__(name, n=n, m=m, predefined=pre)
        self._d, self.weights, self.p_facilities = d, w, p
        self._levels: dict[int, tuple[np.ndarray, list[str]]] = {}  # client -> (its distance levels, its z names)
        stats: dict[str, Any] = {"clients": n, "sites": m}

        # Incumbent: greedy + interchange, best of a few deterministic starts.
        allowed = np.ones(m, dtype=bool)
        sel, ub = _pmedian_local_search(d, w, p, pre, allowed)
        alive = np.ones(m, dtype=bool)
        cap = d.max(axis=1)
        if reduce:
            c = w[:, None] * d
            iters = int(np.clip(2.5e9 / (n * m), 150, 3000))
            lam0 = w * d[:, sel].min(axis=1)
            lb, lam, lag_set = _pmedian_lagrangian(c, p, pre, ub, lam0, iters)
            if lag_set is not None and len(lag_set) == p:
                # A second local search started from the relaxation's open set.
                sel2, ub2 = _pmedian_local_search(d, w, p, pre, allowed, start=lag_set)
                if ub2 < ub - 1e-9:
                    sel, ub = sel2, ub2
            stats["lagrangian_bound"] = lb
            alive, cap = _pmedian_reduce(c, d, p, pre, lam, ub)
            stats["sites_after_tests"] = int(alive.sum())
            if (ub - lb) >= _PROBE_MIN_GAP * max(1.0, abs(ub)):
                alive, cap = _pmedian_probe(c, d, p, pre, alive, cap, lam, ub, stats)
            else:
                stats["probing"] = "skipped (gap already small)"
            stats["sites_kept"] = int(alive.sum())
        stats["heuristic_objective"] = ub
        self._build_radius(d, w, p, pre, alive, cap, stats)
        start = {f"y_{j}": 1.0 for j in sel}
        dist0 = d[:, sel].min(axis=1)
        for i, (lv, names) in self._levels.items():
            for value, nm in zip(lv[1:], names, strict=False):
                if value <= dist0[i]:
                    start[nm] = 1.0
        self._start = start
        self.incumbent_sites = np.sort(sel)
        stats["build_seconds"] = time.perf_counter() - t0
        self.stats.update(stats)
        self._seal(reduce)

    @classmethod
    def from_cost_matrix(
        cls,
        cost_matrix: Any,
        weights: Any,
        p_facilities: int,
        predefined_facilities_arr: Any = None,
        name: str = "p-median",
        *,
        reduce: bool = True,
    ) -> PMedian:
        """Build from a dense clients × sites cost matrix.

        Parameters
        ----------
        cost_matrix
            Dense, finite, non-negative (clients × sites) distances.
        weights
            Demand weight per client (non-negative).
        p_facilities
            Exact number of open facilities (predefined included).
        predefined_facilities_arr
            Sites that must be open (0/1 mask as long as the sites, or indices).
        name
            Problem name.
        reduce
            Run the heuristic + Lagrangian reductions (see the class docstring).
        """
        d = _dense_costs(cost_matrix)
        n, m = d.shape
        w = _vector(weights, n, "weights")
        pre = _predefined_mask(predefined_facilities_arr, m)
        p = _check_p(p_facilities, m, int(pre.sum()))
        return cls(name, costs=d, weights=w, p_facilities=p, predefined=pre, reduce=reduce)

    def _build_radius(
        self,
        d: np.ndarray,
        w: np.ndarray,
        p: int,
        pre: np.ndarray,
        alive: np.ndarray,
        cap: np.ndarray,
        stats: dict[str, Any],
    ) -> None:
        sites = np.flatnonzero(alive)
        ds = d[:, sites]
        order = np.argsort(ds, axis=1, kind="stable")
        dsort = np.take_along_axis(ds, order, axis=1)
        active_clients = np.flatnonzero(w > 0)  # weightless clients cannot change the objective
        dsort, order, capa = dsort[active_clients], order[active_clients], cap[active_clients]
        # Never cap below a client's nearest kept site (cannot happen with a valid
        # cap, but float noise must not produce an empty row).
        capa = np.maximum(capa, dsort[:, 0])
        inr = dsort <= capa[:, None]
        newlev = np.ones_like(inr)
        newlev[:, 1:] = dsort[:, 1:] > dsort[:, :-1]
        lev = np.cumsum(newlev, axis=1) - 1
        nlev = np.where(inr, lev + 1, 0).max(axis=1)  # rows per client
        nz = nlev - 1  # z variables per client
        ms = len(sites)
        ytot = int(inr.sum())
        if ytot + 2 * int(nz.sum()) > _MAX_NONZEROS:
            raise ModelTooLargeError(
                f"the p-median model would have {ytot + 2 * int(nz.sum()):,} nonzeros",
                hint="reduce the number of clients or sites (e.g. aggregate demand)",
            )
        y = np.empty(ms, dtype=object)
        self._site_vars = {}
        for k, j in enumerate(sites):
            v = bulk_var(self.problem, f"y_{j}", 1 if pre[j] else 0, 1, pulp.LpBinary)
            if pre[j]:
                v.lowBound = 1
            y[k] = v
            self._site_vars[int(j)] = v
        # Level values per active client, and z variable names.
        level_vals = [dsort[a][newlev[a] & inr[a]] for a in range(len(active_clients))]
        ztot = int(nz.sum())
        znames = [f"z_{active_clients[a]}_{k}" for a in range(len(active_clients)) for k in range(1, nlev[a])]
        zvars = np.array([bulk_var(self.problem, nm, 0, 1) for nm in znames], dtype=object)
        zoff = (np.cumsum(nz) - nz).astype(np.int64)
        roff = (np.cumsum(nlev) - nlev).astype(np.int64)
        nrow = int(nlev.sum())
        # y entries: site at level L of client a sits in row roff[a] + L.
        aa, kk = np.nonzero(inr)
        yr = roff[aa] + lev[aa, kk]
        yc = order[aa, kk]
        # z_k (k = 1..nlev-1): +1 in row k-1, -1 in row k.
        za = np.repeat(np.arange(len(active_clients)), nz)
        zk = np.arange(ztot) - np.repeat(zoff, nz)
        zc = ms + np.arange(ztot)
        rows = np.concatenate([yr, roff[za] + zk, roff[za] + zk + 1])
        cols = np.concatenate([yc, zc, zc])
        vals = np.concatenate([np.ones(len(yr)), np.ones(ztot), -np.ones(ztot)])
        a_mat = sp.csr_array((vals, (rows, cols)), shape=(nrow, ms + ztot))
        a_mat.sort_indices()
        rhs = np.zeros(nrow)
        rhs[roff] = 1.0
        names = [f"lvl_{active_clients[a]}_{k}" for a in range(len(active_clients)) for k in range(1, nlev[a] + 1)]
        zcost = (
            np.concatenate([w[active_clients[a]] * np.diff(level_vals[a]) for a in range(len(active_clients))])
            if ztot
            else np.empty(0)
        )
        constant = float(sum(w[active_clients[a]] * level_vals[a][0] for a in range(len(active_clients))))
        prob = self.problem
        prob.setObjective(bulk_affine(zvars, zcost, constant))
        add_bulk_rows(prob, np.concatenate([y, zvars]), a_mat, pulp.LpConstraintGE, rhs, names)
        prob.addConstraint(pulp.LpConstraint(bulk_affine(y, np.ones(ms)), pulp.LpConstraintEQ, "p_facilities", p))
        self._levels = {
            int(active_clients[a]): (level_vals[a], znames[zoff[a] : zoff[a] + nz[a]])
            for a in range(len(active_clients))
        }
        stats.update({"levels": ztot, "rows": nrow + 1, "nonzeros": int(a_mat.nnz + ms)})

    @classmethod
    def from_geodataframe(
        cls,
        gdf_demand: gpd.GeoDataFrame,
        gdf_fac: gpd.GeoDataFrame,
        demand_col: str,
        facility_col: str,
        weights_cols: str,
        p_facilities: int,
        predefined_facility_col: str | None = None,
        distance_metric: str = "euclidean",
        name: str = "p-median",
        *,
        reduce: bool = True,
    ) -> PMedian:
        """Build from point layers (spopt's signature); distances in metres of a projected CRS."""
        cost, weights, pre = _geo_inputs(
            gdf_demand, gdf_fac, demand_col, facility_col, distance_metric, weights_cols, predefined_facility_col
        )
        return cls.from_cost_matrix(cost, weights, p_facilities, pre, name=name, reduce=reduce)._labelled(
            gdf_demand, gdf_fac
        )

    def _set_assignment(self, mask: np.ndarray) -> None:
        self.assignment = _nearest_open(self._d, mask)

    def _objective_value(self) -> float:
        # The p-median objective of the open set: equals the model objective at
        # an integral solution, without LP round-off.
        return float(self.weights @ self._d[np.arange(self._n), self.assignment])

    @property
    def mean_dist(self) -> float:
        """Weighted mean distance (spopt's attribute)."""
        return self.objective / self.weights.sum() if self.weights.sum() > 0 else 0.0


def _pmedian_reduce(
    c: np.ndarray, d: np.ndarray, p: int, fixed: np.ndarray, lam: np.ndarray, ub: float
) -> tuple[np.ndarray, np.ndarray]:
    """Lagrangian reduction tests; returns (sites kept, per-client distance cap)."""
    tol = 1e-7 * max(1.0, abs(ub))
    rho = np.minimum(0.0, c - lam[:, None]).sum(axis=0)
    free = np.flatnonzero(~fixed)
    k = p - int(fixed.sum())
    lag = float(lam.sum() + rho[fixed].sum())
    in_set = fixed.copy()
    if k > 0:
        ordered = free[np.argsort(rho[free], kind="stable")]
        chosen = ordered[:k]
        in_set[chosen] = True
        lag += float(rho[chosen].sum())
        worst_in = float(rho[ordered[k - 1]])
        # Forcing an unchosen site open replaces the worst chosen free site.
        forced = np.where(in_set, lag, lag + rho - worst_in)
    else:
        forced = np.where(in_set, lag, np.inf)  # no free slot: other sites can never open
    alive = forced <= ub + tol
    alive |= fixed
    # Forcing client i onto site j also pays max(0, c_ij - λ_i).
    pair_lb = forced[None, :] + np.maximum(0.0, c - lam[:, None])
    keep = (pair_lb <= ub + tol) & alive[None, :]
    cap = np.where(keep, d, -np.inf).max(axis=1)
    # A client with no kept pair (float noise) keeps all its alive sites.
    bad = ~np.isfinite(cap)
    if bad.any():
        cap[bad] = np.where(alive[None, :], d[bad], -np.inf).max(axis=1)
    return alive, cap


# Probing budget: sites probed × iterations × clients × sites kept (flops-ish).
_PROBE_WORK_LIMIT = 3e10
# Probe only when the incumbent and the Lagrangian bound are this far apart
# (relative): below it the reduced MIP is small and easy, and probing costs more.
_PROBE_MIN_GAP = 2e-3


def _pmedian_probe(
    c: np.ndarray,
    d: np.ndarray,
    p: int,
    fixed: np.ndarray,
    alive: np.ndarray,
    cap: np.ndarray,
    lam: np.ndarray,
    ub: float,
    stats: dict[str, Any],
    iterations: int = 300,
) -> tuple[np.ndarray, np.ndarray]:
    """Lagrangian probing: force each surviving site open and re-optimise the multipliers.

    The first-order tests of :func:`_pmedian_reduce` use one λ for all sites;
    re-optimising λ with site ``j`` forced open gives the Lagrangian (= LP)
    bound of the branch ``y_j = 1``. When it exceeds the incumbent value the
    site is removed; otherwise its (client, site) pairs are re-tested with
    that branch's multipliers, which tightens the per-client distance caps.
    Both tests keep every plan of value ``<= ub``. Skipped when too costly
    (large p: the LP gap is small there and the MIP is easy anyway).
    """
    sites = np.flatnonzero(alive)
    k = len(sites)
    n = c.shape[0]
    n_fixed = int(fixed.sum())
    if k <= p or float(k) * k * n * iterations > _PROBE_WORK_LIMIT or n_fixed == p:
        stats["probing"] = "skipped"
        return alive, cap
    t0 = time.perf_counter()
    tol = 1e-7 * max(1.0, abs(ub))
    ca, da = c[:, sites], d[:, sites]
    fixed_a = fixed[sites]
    keep_site = np.ones(k, dtype=bool)
    new_cap = np.full(n, -np.inf)
    for t in range(k):
        fx = fixed_a.copy()
        fx[t] = True
        if fx.sum() > p:
            continue  # pragma: no cover - p > fixed checked above
        b, lam_t, _ = _pmedian_lagrangian(ca, p, fx, ub, lam.copy(), iterations, stop_above=ub + tol)
        if b > ub + tol and not fixed_a[t]:
            keep_site[t] = False
            continue
        pair_ok = b + np.maximum(0.0, ca[:, t] - lam_t) <= ub + tol
        new_cap = np.maximum(new_cap, np.where(pair_ok, da[:, t], -np.inf))
    out_alive = np.zeros_like(alive)
    out_alive[sites[keep_site]] = True
    # Caps only shrink; a client left without any kept pair (float noise) keeps its old cap.
    cap = np.where(np.isfinite(new_cap), np.minimum(cap, new_cap), cap)
    stats["probing"] = f"{k - int(keep_site.sum())} of {k} sites removed in {time.perf_counter() - t0:.1f} s"
    return out_alive, cap
