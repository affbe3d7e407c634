"""Backup coverage: LSCP-B."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import highspy
import numpy as np
import pulp
import scipy.sparse as sp

from ..errors import InfeasibleError
from ..solvers.highs import highs_lp, new_highs
from ..solvers.highs_bulk import add_bulk_rows, bulk_affine, bulk_var
from ._common import _p_row
from ._validate import (
    _check_radius,
    _coverage_csr,
    _geo_column,
    _geo_coverage,
    _predefined_mask,
)
from .base import LocateModel, SolverArg, _merge_rows
from .coverage import LSCP

if TYPE_CHECKING:
    import geopandas as gpd
    from numpy.typing import ArrayLike

# =========================================================================== LSCP-B (backup coverage)

# --------------------------------------------------------------------------- exact reductions (every cover of p sites)

# Guard on the work of the row-dominance test (sum over sites of the squared number of groups they
# cover = the flops of the sparse product B·Bᵀ).
_ROW_DOMINANCE_WORK = 30_000_000
# Probing stops after this many probes in a row fixed nothing (probes come likeliest-first) ...
_PROBE_STALL = 12
# ... and is skipped when the LP leaves at least this slack below p: a probe fixes a site only when
# forcing it raises the LP bound by more than the slack (measured: slack 0 and 0.3 fix most sites,
# 0.85 on 5,000 x 500 r 20 fixed 3 of 500 in 38 probes of 0.5 s each).
_PROBE_MAX_SLACK = 0.5
# Integral probe plans kept as incumbent candidates.
_COVERS_KEPT = 16
# ... or after this many simplex iterations: this many times the root LP's, at least the floor.
_PROBE_ITER_FACTOR = 20
_PROBE_ITER_FLOOR = 5_000
# A certified bound must exceed p by this much to rule a plan out (duals are floats).
_BOUND_TOL = 1e-6
# Cap on the swaps of the LSCP-B interchange search.
_LOCAL_SEARCH_PASSES = 50
# ... and on at most this many starts (the best covers met).
_LOCAL_SEARCH_STARTS = 6


@dataclass(frozen=True)
class _BackupFixings:
    """What holds in *every* cover of exactly ``p`` sites (so the LSCP-B model keeps its feasible set).

    Attributes
    ----------
    closed, opened
        Per site: closed / open in every such cover.
    single
        Per client: covered exactly once in every such cover (never backed up).
    """

    closed: np.ndarray
    opened: np.ndarray
    single: np.ndarray


@dataclass
class _CoverReductions:
    """Outcome of :func:`_cover_reductions`: ``lower`` <= p; ``cover``, when found, has ``lower`` sites."""

    lower: int
    cover: np.ndarray | None
    fixings: _BackupFixings | None
    codes: np.ndarray  # demand group per client
    first: np.ndarray  # first client of each group
    covers: list[np.ndarray]  # every cover of `lower` sites met (incumbent candidates)
    stats: dict[str, Any] = field(default_factory=dict)


def _implied_rows(group_cov: sp.csr_array) -> np.ndarray:
    """Groups whose covering set contains another group's: covering that one covers them (set-cover rows only).

    ``group_cov`` has distinct rows (merged). The test is skipped (nothing implied) when its sparse
    product would be too large.
    """
    n = group_cov.shape[0]
    implied = np.zeros(n, dtype=bool)
    col_counts = np.bincount(group_cov.indices, minlength=group_cov.shape[1]).astype(np.int64)
    if int((col_counts**2).sum()) > _ROW_DOMINANCE_WORK:
        return implied
    ones = sp.csr_array((np.ones(group_cov.nnz, dtype=np.int64), group_cov.indices, group_cov.indptr), group_cov.shape)
    inter = (ones @ ones.T).tocoo()
    deg = np.diff(group_cov.indptr)
    a, b, c = inter.row, inter.col, inter.data
    # cover(b) ⊆ cover(a): row a is implied by row b (strictly smaller, or the lower index among equals).
    sub = (a != b) & (c == deg[b]) & ((deg[b] < deg[a]) | (b < a))
    implied[a[sub]] = True
    return implied


class _CoverRelaxation:
    r"""LP relaxation of the set cover over all sites, in highspy, with certified bounds for covers of ``p`` sites.

    Rows :math:`\sum_{j \ni g} y_j \ge 1`, minimise :math:`\sum_j y_j`, bounds per site (fixings,
    predefined sites at 1). For any duals :math:`u \ge 0` and :math:`d = 1 - A^\top u`, every cover
    :math:`y` with :math:`c = Ay` satisfies the identity

    .. math:: \sum_j y_j = \sum_j d_j y_j + \sum_g u_g + \sum_g u_g (c_g - 1),

    so a cover of exactly ``p`` sites obeying the bounds has
    :math:`\sum_g u_g (c_g - 1) \le p - L(u)`, where :math:`L(u) = \sum_g u_g + \min \sum_j d_j y_j`
    over 0/1 vectors of ``p`` sites within the bounds (the ``p`` smallest :math:`d_j`). Hence no such
    cover exists when :math:`L(u) > p`, and a group with :math:`u_g > p - L(u)` is covered exactly once
    by every such cover. The bound holds for *any* :math:`u \ge 0` — it does not rely on LP tolerances
    or on an iteration-limited solve being optimal.
    """

    def __init__(self, a: sp.csr_array, lo: np.ndarray) -> None:
        self.a = sp.csr_array((np.ones(a.nnz), a.indices, a.indptr), a.shape)
        self.at = sp.csr_array(self.a.T)
        self.ng, self.ns = self.a.shape
        self.lo = lo.astype(np.float64)
        self.up = np.ones(self.ns)
        self.iterations = 0
        h = new_highs(False)
        h.setOptionValue("output_flag", False)
        h.setOptionValue("presolve", "off")  # warm re-solves after bound changes keep the basis
        lp = highs_lp(
            np.ones(self.ns),
            (self.lo.copy(), self.up.copy()),
            (np.ones(self.ng), np.full(self.ng, highspy.kHighsInf)),
            self.a,
        )
        h.passModel(lp)
        self.h = h
        self.basis: highspy.HighsBasis | None = None
        self.u = np.zeros(self.ng)
        self.y = np.zeros(self.ns)

    def _run(self, iteration_limit: int | None) -> np.ndarray:
        """Dual simplex (warm); the rows' duals, clipped at 0 (zeros when HiGHS gave none: still a valid bound)."""
        h = self.h
        h.setOptionValue("simplex_iteration_limit", int(iteration_limit) if iteration_limit else 2**31 - 1)
        h.run()
        self.iterations += max(0, int(h.getInfo().simplex_iteration_count))
        sol = h.getSolution()
        duals = np.asarray(sol.row_dual, dtype=np.float64)
        return np.maximum(duals, 0.0) if len(duals) == self.ng else np.zeros(self.ng)

    def lower(self, u: np.ndarray, lo: np.ndarray, up: np.ndarray, p: int | None) -> float:
        """Certified lower bound :math:`L(u)` on the size of a cover within the bounds (of ``p`` sites if given).

        ``inf`` when no 0/1 vector of ``p`` sites fits the bounds.
        """
        d = 1.0 - self.at @ u
        forced = lo > 0.5
        free = ~forced & (up > 0.5)
        base = float(u.sum() + d[forced].sum())
        if p is None:
            return base + float(np.minimum(d[free], 0.0).sum())
        need, n_free = p - int(forced.sum()), int(free.sum())
        if need < 0 or need > n_free:
            return math.inf
        return base + (float(np.partition(d[free], need - 1)[:need].sum()) if need else 0.0)

    def solve(self) -> float:
        """Solve under the current bounds (warm); keep basis, duals and plan as the base for probes."""
        if self.basis is not None:
            self.h.setBasis(self.basis)
        self.u = self._run(None)
        self.basis = self.h.getBasis()
        y = np.asarray(self.h.getSolution().col_value, dtype=np.float64)
        self.y = y if len(y) == self.ns else np.zeros(self.ns)
        return self.lower(self.u, self.lo, self.up, None)

    def fix(self, j: int, value: float) -> None:
        self.lo[j] = self.up[j] = value
        self.h.changeColBounds(int(j), float(value), float(value))

    def probe(self, j: int, value: float, p: int, iteration_limit: int) -> tuple[float, np.ndarray]:
        """Certified bound on covers of ``p`` sites with ``y_j = value`` too, and the probe's LP plan."""
        lo, up = self.lo.copy(), self.up.copy()
        lo[j] = up[j] = value
        if self.lower(np.zeros(self.ng), lo, up, p) == math.inf:
            return math.inf, self.y  # the number of sites alone rules it out
        h = self.h
        assert self.basis is not None, "probes start from the base basis: solve() first"
        h.setBasis(self.basis)
        h.changeColBounds(int(j), float(value), float(value))
        try:
            u = self._run(iteration_limit)
            y = np.asarray(h.getSolution().col_value, dtype=np.float64)
        finally:
            h.changeColBounds(int(j), float(self.lo[j]), float(self.up[j]))
        return self.lower(u, lo, up, p), y


def _as_cover(y: np.ndarray, group_cov: sp.csr_array, p: int, predefined: np.ndarray) -> np.ndarray | None:
    """The LP plan ``y`` as a site mask when it is a 0/1 cover of every group, with exactly ``p`` sites
    and every predefined one."""
    if len(y) != group_cov.shape[1] or np.abs(y - np.round(y)).max(initial=0.0) > 1e-9:
        return None
    mask = y > 0.5
    if int(mask.sum()) != p or (predefined & ~mask).any():
        return None
    if not bool(((group_cov @ mask.astype(np.int64)) > 0).all()):
        return None
    return mask


def _probe_sites(
    relax: _CoverRelaxation, group_cov: sp.csr_array, p: int, value: float, order: np.ndarray, stats: dict[str, Any]
) -> list[np.ndarray]:
    """Probe the free sites of ``order`` at ``y_j = value``; fix each ruled out to the other value.

    Returns the covers of ``p`` sites met on the way (integral probe plans, at most
    :data:`_COVERS_KEPT`). Stops after :data:`_PROBE_STALL` fruitless probes in a row or when the
    iteration budget is spent.
    """
    budget = relax.iterations + max(_PROBE_ITER_FLOOR, _PROBE_ITER_FACTOR * stats["lp_iterations"])
    cap = max(100, 4 * stats["lp_iterations"])
    covers: list[np.ndarray] = []
    stall, probes, fixed = 0, 0, 0
    for j in order:
        j = int(j)
        if relax.lo[j] == relax.up[j]:
            continue
        if stall >= _PROBE_STALL or relax.iterations > budget:
            break
        bound, y = relax.probe(j, value, p, cap)
        probes += 1
        if bound > p + _BOUND_TOL:
            relax.fix(j, 1.0 - value)
            fixed, stall = fixed + 1, 0
        else:
            stall += 1
            cover = _as_cover(y, group_cov, p, relax.lo > 0.5) if len(covers) < _COVERS_KEPT else None
            if cover is not None and not any((cover == c).all() for c in covers):
                covers.append(cover)
    key = "closed" if value else "opened"
    stats[f"probes_{key}"] = probes
    stats[f"sites_probed_{key}"] = fixed
    return covers


def _reduced_cost_fixing(relax: _CoverRelaxation, p: int) -> int:
    """Fix the free sites whose flip away from the base LP's choice pushes :math:`L(u)` above ``p``."""
    n_fixed = 0
    for j in np.flatnonzero(relax.lo < relax.up):
        for value in (1.0, 0.0):
            lo, up = relax.lo.copy(), relax.up.copy()
            lo[j] = up[j] = value
            if relax.lower(relax.u, lo, up, p) > p + _BOUND_TOL:
                relax.fix(int(j), 1.0 - value)
                n_fixed += 1
                break
    return n_fixed


def _cover_reductions(coverage: sp.csr_array, predefined: np.ndarray) -> _CoverReductions:
    """The LP lower bound on ``p``, a cover of that size if one is met, and what every such cover obeys.

    With ``lower = ⌈L(u)⌉`` from the set-cover LP (:class:`_CoverRelaxation`): sites are fixed by the
    reduced costs and then by probing (force a site open, re-solve the LP warm: when even the LP needs
    more than ``lower`` sites, no cover of ``lower`` sites opens it — and the same for forcing one
    closed); groups with a dual above the remaining slack are covered once in every such cover. An
    integral probe plan is such a cover, which proves ``p = lower``. Every fixing is certified for
    every cover of ``lower`` sites, so if ``p = lower`` the LSCP-B model built with them has exactly
    the feasible plans of the full one.
    """
    t0 = time.perf_counter()
    codes, first = _merge_rows(coverage)
    group_cov = sp.csr_array(coverage[first])
    implied = _implied_rows(group_cov)
    stats: dict[str, Any] = {"cover_lp_rows": int((~implied).sum())}
    relax = _CoverRelaxation(group_cov[~implied], predefined)
    bound = relax.solve()
    q = int(math.ceil(bound - _BOUND_TOL))
    stats.update(lscp_lp_bound=bound, lp_iterations=relax.iterations)
    base_cover = _as_cover(relax.y, group_cov, q, predefined)
    covers = [] if base_cover is None else [base_cover]
    stats["sites_reduced_cost"] = _reduced_cost_fixing(relax, q)
    probing = q - bound < _PROBE_MAX_SLACK
    stats["probing"] = "applied" if probing else f"skipped (LP slack {q - bound:.3g} >= {_PROBE_MAX_SLACK})"
    if probing:
        # Likeliest to close first: sites the LP leaves out, with the largest reduced cost.
        d = 1.0 - relax.at @ relax.u
        covers += _probe_sites(relax, group_cov, q, 1.0, np.lexsort((-d, relax.y)), stats)
    if probing and relax.lower(np.zeros(relax.ng), relax.lo, relax.up, q) < math.inf:
        relax.solve()
        covers += _probe_sites(relax, group_cov, q, 0.0, np.argsort(-relax.y, kind="stable"), stats)
    relax.solve()
    slack = q - relax.lower(relax.u, relax.lo, relax.up, q)
    stats["reduction_seconds"] = time.perf_counter() - t0
    if slack < -_BOUND_TOL:  # no cover of q sites: the LSCP needs more, and the fixings say nothing
        stats["cover_lp_result"] = f"no cover of {q} sites (certified): p > {q}"
        return _CoverReductions(q + 1, None, None, codes, first, [], stats)
    single_rows = np.zeros(group_cov.shape[0], dtype=bool)
    single_rows[np.flatnonzero(~implied)[relax.u > slack + _BOUND_TOL]] = True
    fixings = _BackupFixings(closed=relax.up < 0.5, opened=(relax.lo > 0.5) & ~predefined, single=single_rows[codes])
    stats.update(
        sites_fixed_closed=int(fixings.closed.sum()),
        sites_fixed_open=int(fixings.opened.sum()),
        single_cover_groups=int(single_rows.sum()),
    )
    return _CoverReductions(q, covers[0] if covers else None, fixings, codes, first, covers, stats)


def _backup_bound(
    group_cov: sp.csr_array, weight: np.ndarray, backup_ok: np.ndarray, lo: np.ndarray, up: np.ndarray, p: int
) -> tuple[float, np.ndarray]:
    r"""Certified upper bound on the LSCP-B objective of plans of ``p`` sites within the bounds, and the LP plan.

    Solves the LP relaxation (rows :math:`\sum_j a_{gj} y_j - U_g \ge 1`, :math:`\sum_j y_j = p`,
    :math:`U_g` only where ``backup_ok``) and recomputes its value from the duals
    :math:`v \ge 0` of the group rows as the Lagrangian bound

    .. math:: L(v) = \sum_{g\,\mathrm{ok}} \max(0, w_g - v_g) - \sum_g v_g + \max_y \sum_j s_j y_j,
              \quad s = A^\top v,

    the last term over 0/1 vectors of ``p`` sites within the bounds. It bounds every such plan for
    any :math:`v \ge 0` (add :math:`v_g` times each relaxed row), so it does not rely on LP tolerances.
    """
    ng, ns = group_cov.shape
    ok = np.flatnonzero(backup_ok)
    nu = len(ok)
    a = sp.csr_array((np.ones(group_cov.nnz), group_cov.indices, group_cov.indptr), group_cov.shape)
    u_part = sp.csr_array((-np.ones(nu), (ok, np.arange(nu))), shape=(ng, nu))
    mat = sp.vstack([sp.hstack([a, u_part]), sp.hstack([sp.csr_array(np.ones((1, ns))), sp.csr_array((1, nu))])])
    csc = sp.csc_array(mat)
    h = new_highs(False)
    h.setOptionValue("output_flag", False)
    # Primal simplex: 2.6x faster than HiGHS' default choice here (2,000 x 200 r 20: 0.36 vs 0.94 s).
    h.setOptionValue("simplex_strategy", 4)
    lp = highs_lp(
        np.concatenate([np.zeros(ns), weight[ok]]),
        (np.concatenate([lo, np.zeros(nu)]), np.concatenate([up, np.ones(nu)])),
        (np.concatenate([np.ones(ng), [float(p)]]), np.concatenate([np.full(ng, highspy.kHighsInf), [float(p)]])),
        csc,
        maximize=True,
    )
    h.passModel(lp)
    h.run()
    sol = h.getSolution()
    duals = np.asarray(sol.row_dual, dtype=np.float64)
    v = np.maximum(-duals[:ng], 0.0) if len(duals) == ng + 1 else np.zeros(ng)
    col = np.asarray(sol.col_value, dtype=np.float64)
    y = col[:ns] if len(col) == ns + nu else np.zeros(ns)
    s = a.T @ v
    forced, free = lo > 0.5, (lo < 0.5) & (up > 0.5)
    need, n_free = p - int(forced.sum()), int(free.sum())
    if need < 0 or need > n_free:
        return -math.inf, y
    top = float(np.partition(s[free], n_free - need)[n_free - need :].sum()) if need else 0.0
    bound = float(np.maximum(weight[ok] - v[ok], 0.0).sum() - v.sum() + s[forced].sum() + top)
    return bound, y


def _backed_up_weight(group_cov: sp.csr_array, weight: np.ndarray, plan: np.ndarray) -> float | None:
    """Weight of the groups covered twice by ``plan`` (a site mask); None when it leaves a group uncovered."""
    c = group_cov @ plan.astype(np.int64)
    return None if bool((c == 0).any()) else float(weight[c >= 2].sum())


def _backup_local_search(
    group_cov: sp.csr_array, weight: np.ndarray, plan: np.ndarray, allowed: np.ndarray, locked: np.ndarray
) -> tuple[np.ndarray, float]:
    """Best-improvement interchange on a cover of ``p`` sites: swaps that keep every group covered.

    Per open site ``k`` (not ``locked``), with ``c`` the cover counts without it: a site ``j`` may
    replace it when it reaches every group ``c`` leaves uncovered, and the plan then backs up the
    groups with ``c >= 2`` plus those with ``c = 1`` that ``j`` reaches — two sparse products per
    ``k``, so a pass costs ``O(p · nnz)``. Returns the local optimum and its backed-up weight.
    """
    ones = sp.csr_array((np.ones(group_cov.nnz), group_cov.indices, group_cov.indptr), group_cov.shape)
    at, csc = sp.csr_array(ones.T), sp.csc_array(ones)
    plan = plan.copy()
    c = group_cov @ plan.astype(np.int64)
    value = float(weight[c >= 2].sum())
    for _ in range(_LOCAL_SEARCH_PASSES):
        best_gain, best_swap = 0.5, None  # integer weights: a better plan gains at least 1
        for k in np.flatnonzero(plan & ~locked):
            ck = c.copy()
            ck[csc.indices[csc.indptr[k] : csc.indptr[k + 1]]] -= 1
            gone = ck == 0
            fits = (at @ gone.astype(np.float64)) >= gone.sum() - 0.5
            gain = float(weight[ck >= 2].sum()) + at @ (weight * (ck == 1)) - value
            gain[~fits | ~allowed | plan] = -np.inf
            j = int(np.argmax(gain))
            if gain[j] > best_gain:
                best_gain, best_swap = float(gain[j]), (int(k), j)
        if best_swap is None:
            break
        site_out, site_in = best_swap
        plan[site_out], plan[site_in] = False, True
        c = group_cov @ plan.astype(np.int64)
        value = float(weight[c >= 2].sum())
    return plan, value


def _fix_to_incumbent(
    red: _CoverReductions, coverage: sp.csr_array, predefined: np.ndarray, p: int
) -> _BackupFixings | None:
    """Fix every site to the best known plan when the LSCP-B LP bound (under ``red``'s fixings) proves it optimal.

    Candidates: ``red.covers`` and the LP plan rounded to its ``p`` largest sites; the best few are
    improved by :func:`_backup_local_search` until the bound proves one. With integer weights a
    better plan backs up at least one more demand point, so a certified bound below the
    incumbent's value + 1 proves it optimal. Returns the fixings (all sites) or None.
    """
    fix = red.fixings
    assert fix is not None, "needs the cover fixings"
    group_cov = sp.csr_array(coverage[red.first])
    weight = np.bincount(red.codes, minlength=len(red.first)).astype(np.float64)
    lo = (predefined | fix.opened).astype(np.float64)
    up = (~fix.closed).astype(np.float64)
    backup_ok = (group_cov @ (~fix.closed).astype(np.int64) >= 2) & ~fix.single[red.first]
    bound, y = _backup_bound(group_cov, weight, backup_ok, lo, up, p)
    rounded = np.zeros(len(y), dtype=bool)
    rounded[np.argsort(-(y + 2.0 * lo - 3.0 * (up < 0.5)), kind="stable")[:p]] = True
    locked = lo > 0.5
    starts: list[tuple[float, np.ndarray]] = []
    for plan in [*red.covers, rounded]:
        if int(plan.sum()) != p or (plan & fix.closed).any() or (locked & ~plan).any():
            continue
        value = _backed_up_weight(group_cov, weight, plan)
        if value is not None:  # a cover
            starts.append((value, plan))
    starts.sort(key=lambda vp: -vp[0])
    best, best_value = (starts[0][1], starts[0][0]) if starts else (None, -math.inf)
    # Interchange from the best starts until the bound proves the incumbent (or the starts run out).
    for _, plan in starts[:_LOCAL_SEARCH_STARTS]:
        if bound < best_value + 1.0 - _BOUND_TOL:
            break
        plan, value = _backup_local_search(group_cov, weight, plan, ~fix.closed, locked)
        if value > best_value:
            best, best_value = plan, value
    red.stats.update(backup_lp_bound=bound, incumbent_backup=best_value if best is not None else None)
    if best is None or not bound < best_value + 1.0 - _BOUND_TOL:
        return None
    red.stats["sites_fixed"] = "all, to the incumbent (the LP bound proves it optimal)"
    return _BackupFixings(closed=~best, opened=best & ~predefined, single=fix.single)


def _lscp_stage(
    cost_matrix: ArrayLike | sp.sparray | sp.spmatrix,
    radius: float,
    predefined_facilities_arr: ArrayLike | None,
    name: str,
    solver: SolverArg,
) -> int:
    """The LSCP's optimum ``p`` by its MIP (its errors name unreachable demand)."""
    lscp = LSCP.from_cost_matrix(cost_matrix, radius, predefined_facilities_arr, name=f"{name}-lscp").solve(solver)
    if lscp.status != "optimal":
        raise InfeasibleError(
            f"the LSCP stage ended {lscp.status}, so p is not known",
            field="solver",
            hint="solve the LSCP alone (LSCP.from_cost_matrix(...).solve()) to see its report, or try the other solver ('highs' or 'cbc')",
        )
    assert lscp.objective is not None  # an optimal LSCP has its objective
    return int(round(lscp.objective))


class LSCPB(LocateModel):
    r"""Location set covering with backup (LSCP-B; Church & Murray 2018, as in spopt).

    First the LSCP gives the fewest facilities :math:`p` that cover every
    demand point; then, with exactly :math:`p` facilities, the number of
    demand points covered at least twice is maximised:

    .. math::

       \begin{array}{lll}
       \textbf{Maximize}   & \sum_{i \in I^2} U_i \\
       \textbf{Subject to} & \sum_{j} a_{ij} Y_j \ge 1 + U_i & \forall i \in I^2 \\
                           & \sum_{j} a_{ij} Y_j \ge 1       & \forall i \in I \setminus I^2 \\
                           & \sum_j Y_j = p \\
                           & U_i \in \{0, 1\},\ Y_j \in \{0, 1\}
       \end{array}

    with :math:`a_{ij} = 1` when :math:`d_{ij} \le r` and :math:`I^2` the
    demand points within reach of at least two sites. Demand points with the
    same covering set are merged into one row whose :math:`U` counts them all.

    spopt's objective differs by a constant: spopt keeps :math:`U_i` in its
    objective also for demand points with fewer than two sites in reach,
    where nothing constrains it, so its value is
    ``objective + n_single`` (``spopt_objective`` here). The plans are the
    same. Only the pairs in reach are built (sparse rows).

    Reductions (``reduce=True``, the default), all exact:

    1. The set-cover LP (rows of demand whose covering set contains another's dropped, as implied)
       gives a certified lower bound ``q = ⌈L(u)⌉`` on ``p`` (:class:`_CoverRelaxation`). When the
       LP leaves a slack ``q − L(u)`` below 0.5, each site is probed: forced open (then closed),
       the LP re-solved warm; a certified bound above ``q`` proves that no cover of ``q`` sites
       opens (closes) it, so it is fixed the other way. A group whose dual exceeds the remaining
       slack is covered exactly once by every cover of ``q`` sites (no ``U``). An integral probe
       plan is a cover of ``q`` sites and proves ``p = q`` without the LSCP's MIP; otherwise the
       LSCP MIP gives ``p`` and the fixings are kept only if ``p = q``. These fixings hold for
       *every* cover of ``p`` sites: the model keeps all its feasible plans.
    2. With those fixings, the LP relaxation of the backup model is solved once; when its
       certified bound is below the best known plan's value + 1 (the integral probe covers and
       the rounded LP plan, improved by interchange), that plan is optimal and every site is
       fixed to it (the model then keeps that optimum only).

    ``stats`` records what was done (``lscp_lp_bound``, ``p_proof``, probes, fixings,
    ``backup_lp_bound``, ``incumbent_backup``). A reduced model refuses user edits before
    solving (build with ``reduce=False`` to add constraints).

    Attributes (after :meth:`solve`): ``lscp_obj_value`` (p), ``backup``
    (per client: covered twice), ``backup_perc`` (% of clients covered more
    than once, spopt's attribute), ``spopt_objective``.
    """

    sense = pulp.LpMaximize

    def __init__(
        self,
        name: str,
        *,
        coverage: sp.csr_array,
        service_radius: float,
        predefined: np.ndarray,
        p_facilities: int,
        solver: SolverArg,
        fixings: _BackupFixings | None = None,
    ) -> None:
        """Build the backup model from checked inputs and the LSCP's ``p`` (see :meth:`from_cost_matrix`).

        Parameters
        ----------
        name
            Problem name.
        coverage
            Clients × sites pattern of the pairs in reach.
        service_radius
            The radius ``coverage`` was built with.
        predefined
            Boolean per site: required open.
        p_facilities
            The fewest facilities that cover every demand point (the LSCP's optimum).
        solver
            Default solver of :meth:`solve`.
        fixings
            What every cover of ``p_facilities`` sites obeys (:func:`_cover_reductions`): sites
            fixed closed get no variable, sites fixed open are fixed at 1, demand covered once in
            every such cover gets no ``U``. None: the full model.
        """
        n, m = coverage.shape
        super().__init__(name, n=n, m=m, predefined=predefined)
        self._cov = coverage
        self._solver: SolverArg = solver
        self.service_radius = service_radius
        self.lscp_obj_value = p_facilities
        self._open_cov = sp.csr_array((n, m))  # coverage by the open sites (after solve)
        self.backup = np.zeros(n, dtype=bool)  # per client: covered twice (after solve)
        closed = np.zeros(m, dtype=bool) if fixings is None else fixings.closed
        y = self._site_variables(closed, predefined if fixings is None else predefined | fixings.opened)
        counts = np.diff(coverage.indptr)
        self.n_single = int((counts < 2).sum())
        # Demand points with identical covering sets share one row and one U (weight = their number).
        codes, first = _merge_rows(coverage)
        size = np.bincount(codes, minlength=len(first)).astype(float)
        gcov = coverage[first]
        g = len(first)
        # U only where two open sites may reach the group, and (with fixings) not covered once in every plan.
        reach = np.diff(gcov.indptr) if fixings is None else gcov @ (~closed).astype(np.int64)
        backup_ok = reach >= 2
        if fixings is not None:
            backup_ok &= ~fixings.single[first]
        two = np.flatnonzero(backup_ok)
        u = np.array([bulk_var(self.problem, f"u_{k}", 0, 1, pulp.LpBinary) for k in two], dtype=object)
        self._u = u
        self.problem.setObjective(bulk_affine(u, size[two]))
        allv = np.concatenate([y, u])
        # Σ_j a_ij y_j - U_i >= 1 over the sites with a variable.
        coo = gcov.tocoo()
        keep = ~closed[coo.col]
        urow = np.full(g, -1)
        urow[two] = np.arange(len(two))
        rows = np.concatenate([coo.row[keep], two])
        cols = np.concatenate([coo.col[keep], m + urow[two]])
        vals = np.concatenate([np.ones(int(keep.sum())), -np.ones(len(two))])
        a = sp.csr_array((vals, (rows, cols)), shape=(g, m + len(two)))
        a.sort_indices()
        add_bulk_rows(self.problem, allv, a, pulp.LpConstraintGE, np.ones(g), [f"backup_{k}" for k in range(g)])
        _p_row(self.problem, y[~closed], p_facilities)
        self.stats.update(
            {"clients": n, "sites": m, "coverage_pairs": int(coverage.nnz), "p": p_facilities, "demand_groups": g}
        )
        self._seal(fixings is not None)

    def _site_variables(self, closed: np.ndarray, fixed_open: np.ndarray) -> np.ndarray:
        """One binary per site not ``closed`` (``fixed_open`` ones at 1); fills ``_site_vars``."""
        y = np.empty(len(closed), dtype=object)
        self._site_vars = {}
        for j in np.flatnonzero(~closed):
            v = bulk_var(self.problem, f"y_{j}", 1 if fixed_open[j] else 0, 1, pulp.LpBinary)
            if fixed_open[j]:
                v.lowBound = 1  # PuLP resets a binary's bounds to 0..1
            y[j] = v
            self._site_vars[int(j)] = v
        return y

    @classmethod
    def from_cost_matrix(
        cls,
        cost_matrix: ArrayLike | sp.sparray | sp.spmatrix,
        service_radius: float,
        solver: SolverArg = "highs",
        predefined_facilities_arr: ArrayLike | None = None,
        name: str = "lscp-b",
        reduce: bool = True,
    ) -> LSCPB:
        """Build from a clients × sites cost matrix (spopt's argument order; ``solver`` solves the LSCP step).

        Parameters
        ----------
        cost_matrix
            Dense array, or scipy sparse with the pairs in reach valued by distance.
        service_radius
            Maximum service distance (``<=``).
        solver
            Solver for the LSCP stage and default for :meth:`solve`.
        predefined_facilities_arr
            Sites that must be open (0/1 mask or indices).
        name
            Problem name.
        reduce
            Apply the exact reductions of the class docstring (the LP may then prove ``p``
            without the LSCP's MIP).
        """
        radius = _check_radius(service_radius)
        cov = _coverage_csr(cost_matrix, radius)
        pre = _predefined_mask(predefined_facilities_arr, cov.shape[1])
        stats: dict[str, Any] = {}
        fixings = None
        if reduce and bool((np.diff(cov.indptr) > 0).all()):
            red = _cover_reductions(cov, pre)
            stats, fixings = red.stats, red.fixings
            if red.cover is not None:
                p = red.lower
                stats["p_proof"] = "set-cover LP bound met by a cover (no LSCP MIP)"
            else:
                p = _lscp_stage(cost_matrix, radius, predefined_facilities_arr, name, solver)
                stats["p_proof"] = "LSCP MIP"
                if p != red.lower:  # the fixings hold for covers of red.lower sites only
                    fixings = None
            if fixings is not None:
                fixings = _fix_to_incumbent(red, cov, pre, p) or fixings
        else:
            p = _lscp_stage(cost_matrix, radius, predefined_facilities_arr, name, solver)
        model = cls(
            name, coverage=cov, service_radius=radius, predefined=pre, p_facilities=p, solver=solver, fixings=fixings
        )
        model.stats.update(stats)
        return model

    @classmethod
    def from_geodataframe(
        cls,
        gdf_demand: gpd.GeoDataFrame,
        gdf_fac: gpd.GeoDataFrame,
        demand_col: str,
        facility_col: str,
        service_radius: float,
        solver: SolverArg = "highs",
        predefined_facility_col: str | None = None,
        distance_metric: str = "euclidean",
        name: str = "lscp-b",
        reduce: bool = True,
    ) -> LSCPB:
        """Build from point layers (spopt's signature); distances in metres of a projected CRS."""
        radius = _check_radius(service_radius)
        cost = _geo_coverage(gdf_demand, gdf_fac, demand_col, facility_col, distance_metric, radius)
        pre = _geo_column(gdf_fac, predefined_facility_col, "predefined_facility_col")
        model = cls.from_cost_matrix(cost, radius, solver, pre, name=name, reduce=reduce)
        model.site_ids, model.client_ids = gdf_fac.index.to_numpy(), gdf_demand.index.to_numpy()
        return model

    def solve(self, solver: SolverArg | None = None, **kwargs: Any) -> LSCPB:
        """Solve (default: the solver given at construction); see :meth:`LocateModel.solve`."""
        return super().solve(self._solver if solver is None else solver, **kwargs)

    def _set_assignment(self, mask: np.ndarray) -> None:
        open_cov = sp.csr_array(self._cov.multiply(mask[None, :].astype(np.int32)))
        open_cov.eliminate_zeros()
        self._open_cov = open_cov
        counts = np.diff(open_cov.indptr)
        self.backup = counts >= 2
        assign = np.full(self._n, -1, dtype=np.int64)
        has = counts > 0
        assign[has] = open_cov.indices[open_cov.indptr[:-1][has]]
        self.assignment = assign

    def _objective_value(self) -> float:
        return float(self.backup.sum())

    def _served_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        oc = self._open_cov.tocoo()
        return oc.row, oc.col

    @property
    def backup_perc(self) -> float:
        """Percentage of clients covered by more than one open facility (spopt's attribute)."""
        return 100.0 * float(self.backup.sum()) / self._n

    @property
    def spopt_objective(self) -> float | None:
        """The value spopt's LSCPB reports for the same plan (see the class docstring)."""
        return None if self.objective is None else self.objective + self.n_single
