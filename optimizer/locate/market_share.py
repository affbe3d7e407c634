"""Market share and target market share against competitors (Huff gravity)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Self

import numpy as np
import pulp
import scipy.sparse as sp

from ..errors import InfeasibleError, InputError
from ..solvers.highs_bulk import add_bulk_rows, bulk_affine, bulk_var
from ..solvers.options import relative_gap
from ._common import _p_row, _pairs_in_reach, _site_vars, _solve_once, _var_values
from ._validate import (
    _check_p,
    _geo_column,
    _geo_cost,
    _predefined_mask,
    _vector,
)
from .attendance import Decay, _check_decay, decay_weights
from .base import LocateModel, SolverArg

if TYPE_CHECKING:
    import geopandas as gpd
    from numpy.typing import ArrayLike

# =========================================================================== market share (Huff)


def _huff_utilities(
    cost_matrix: Any, attractiveness: np.ndarray, decay: Decay, beta: float, cutoff: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]:
    """Sparse (client, site, utility) with utility = A_j · a(d_ij) for pairs in reach with a > 0."""
    ii, jj, dd, (n, m) = _pairs_in_reach(cost_matrix, cutoff)
    a = decay_weights(dd, decay, beta, cutoff) * attractiveness[jj]
    pos = a > 0
    return ii[pos], jj[pos], a[pos], (n, m)


def _columns(matrix: Any) -> int:
    """Number of columns (sites or competitors) of a dense or scipy sparse matrix."""
    return matrix.shape[1] if sp.issparse(matrix) else np.asarray(matrix).shape[1]


def _market_inputs(
    cost_matrix: ArrayLike | sp.sparray | sp.spmatrix,
    weights: ArrayLike,
    p_facilities: int,
    competitor_cost_matrix: ArrayLike | sp.sparray | sp.spmatrix | None,
    attractiveness: ArrayLike | None,
    competitor_attractiveness: ArrayLike | None,
    decay: Decay,
    beta: float,
    cutoff: float | None,
    predefined_facilities_arr: ArrayLike | None,
) -> dict[str, Any]:
    """The checked inputs of :meth:`MarketShare.from_cost_matrix`, as keyword arguments of its ``__init__``."""
    decay, beta, cut = _check_decay(decay, beta, cutoff)
    m = _columns(cost_matrix)
    att = np.ones(m) if attractiveness is None else _vector(attractiveness, m, "attractiveness")
    ii, jj, u, (n, m) = _huff_utilities(cost_matrix, att, decay, beta, cut)
    w = _vector(weights, n, "weights")
    comp: np.ndarray = np.zeros(n)
    if competitor_cost_matrix is not None:
        q = _columns(competitor_cost_matrix)
        catt = (
            np.ones(q)
            if competitor_attractiveness is None
            else _vector(competitor_attractiveness, q, "competitor_attractiveness")
        )
        ci, _, cu, (cn, _) = _huff_utilities(competitor_cost_matrix, catt, decay, beta, cut)
        if cn != n:
            raise InputError(
                f"competitor_cost_matrix has {cn} clients, cost_matrix {n}",
                field="competitor_cost_matrix",
                hint="give competitor_cost_matrix one row per client, in the same order as cost_matrix",
            )
        comp = np.bincount(ci, weights=cu, minlength=n)
    pre = _predefined_mask(predefined_facilities_arr, m)
    p = _check_p(p_facilities, m, int(pre.sum()))
    return {
        "utilities": sp.csr_array((u, (ii, jj)), shape=(n, m)),
        "weights": w,
        "competitor_utility": comp,
        "p_facilities": p,
        "decay": decay,
        "beta": beta,
        "cutoff": cut,
        "predefined": pre,
    }


class MarketShare(LocateModel):
    r"""Maximise Huff market share against competitors (Huff 1964; ArcGIS "maximize market share").

    A client :math:`i` with demand :math:`w_i` patronises facility :math:`j`
    with probability proportional to its utility
    :math:`u_{ij} = A_j\, a(d_{ij})` (attractiveness times the decay of
    :func:`decay_weights`; 0 beyond the cutoff), among the open candidate
    sites and the competitors :math:`C_i = \sum_{k \in K} A_k a(d_{ik})`:

    .. math::

       \textbf{Maximize}\quad \sum_i w_i \frac{U_i}{U_i + C_i},\qquad
       U_i = \sum_j u_{ij} Y_j,\qquad \sum_j Y_j = p,\ Y_j \in \{0, 1\}.

    (A client with :math:`C_i = 0` is captured wholly as soon as one open
    site reaches it.) The objective is concave in :math:`U_i`, so it is solved
    exactly by outer approximation (Duran & Grossmann 1986; as for maximum
    capture, Ljubić & Moreno 2018): :math:`\max \sum_i w_i t_i` with tangent
    cuts :math:`t_i \le s_i(\bar U) + s_i'(\bar U)(U_i - \bar U)` of
    :math:`s_i(U) = U/(U + C_i)`, starting from :math:`\bar U = 0` and the
    client's largest reachable :math:`U`; each MIP optimum is an upper bound,
    its plan's true value a lower bound; cuts at the plan's :math:`U_i` are
    added until they meet (finitely many plans, each cut exact at its plan).
    ``objective`` = captured demand; ``market_share`` = its share of all demand
    (ArcGIS's measure, in %); ``stats["iterations"]`` counts the MIPs.
    Predefined sites are the chain's own existing facilities and count in p.
    """

    sense = pulp.LpMaximize

    def __init__(
        self,
        name: str,
        *,
        utilities: sp.csr_array,
        weights: np.ndarray,
        competitor_utility: np.ndarray,
        p_facilities: int,
        decay: Decay,
        beta: float,
        cutoff: float,
        predefined: np.ndarray,
    ) -> None:
        """Build the model from checked inputs (see :meth:`from_cost_matrix`); ``utilities`` is clients × sites."""
        n, m = utilities.shape
        super().__init__(name, n=n, m=m, predefined=predefined)
        self.weights, self.competitor_utility, self.p_facilities = weights, competitor_utility, p_facilities
        self.decay, self.beta, self.cutoff = decay, beta, cutoff
        self._u = utilities
        self._build()

    @classmethod
    def from_cost_matrix(
        cls,
        cost_matrix: ArrayLike | sp.sparray | sp.spmatrix,
        weights: ArrayLike,
        p_facilities: int,
        competitor_cost_matrix: ArrayLike | sp.sparray | sp.spmatrix | None = None,
        attractiveness: ArrayLike | None = None,
        competitor_attractiveness: ArrayLike | None = None,
        decay: Decay = "power",
        beta: float = 1.0,
        cutoff: float | None = None,
        predefined_facilities_arr: ArrayLike | None = None,
        name: str = "market-share",
    ) -> Self:
        """Build from a clients × candidate-sites cost matrix and a clients × competitors one.

        Parameters
        ----------
        cost_matrix
            Distances from clients to candidate sites (dense, or sparse pairs in reach).
        weights
            Demand per client.
        p_facilities
            Exact number of own open sites (predefined ones included).
        competitor_cost_matrix
            Distances from clients to competitor facilities (``None``: no competitors).
        attractiveness, competitor_attractiveness
            Attractiveness per candidate site / competitor (default 1).
        decay, beta, cutoff
            Distance decay of the utility (see :func:`decay_weights`; default power, β = 1).
        predefined_facilities_arr
            Own sites that must be open.
        name
            Problem name.
        """
        return cls(
            name,
            **_market_inputs(
                cost_matrix,
                weights,
                p_facilities,
                competitor_cost_matrix,
                attractiveness,
                competitor_attractiveness,
                decay,
                beta,
                cutoff,
                predefined_facilities_arr,
            ),
        )

    @classmethod
    def from_geodataframe(
        cls,
        gdf_demand: gpd.GeoDataFrame,
        gdf_fac: gpd.GeoDataFrame,
        demand_col: str,
        facility_col: str,
        weights_cols: str,
        p_facilities: int,
        gdf_competitor: gpd.GeoDataFrame | None = None,
        competitor_col: str | None = None,
        attractiveness_col: str | None = None,
        competitor_attractiveness_col: str | None = None,
        decay: Decay = "power",
        beta: float = 1.0,
        cutoff: float | None = None,
        predefined_facility_col: str | None = None,
        distance_metric: str = "euclidean",
        name: str = "market-share",
    ) -> Self:
        """Build from point layers of demand, candidate sites and (optionally) competitors."""
        cost = _geo_cost(gdf_demand, gdf_fac, demand_col, facility_col, distance_metric)
        comp = None
        if gdf_competitor is not None:
            comp = _geo_cost(gdf_demand, gdf_competitor, demand_col, competitor_col or "geometry", distance_metric)
        return cls.from_cost_matrix(
            cost,
            _geo_column(gdf_demand, weights_cols, "weights_cols"),
            p_facilities,
            comp,
            _geo_column(gdf_fac, attractiveness_col, "attractiveness_col"),
            None
            if gdf_competitor is None
            else _geo_column(gdf_competitor, competitor_attractiveness_col, "competitor_attractiveness_col"),
            decay,
            beta,
            cutoff,
            _geo_column(gdf_fac, predefined_facility_col, "predefined_facility_col"),
            name=name,
        )._labelled(gdf_demand, gdf_fac)

    # -- the concave share and its tangent cuts
    def _share(self, big_u: np.ndarray, rows: np.ndarray) -> np.ndarray:
        c = self.competitor_utility[rows]
        with np.errstate(invalid="ignore", divide="ignore"):
            s = np.where(c > 0, big_u / (big_u + c), (big_u > 0).astype(float))
        return np.nan_to_num(s)

    def _build(self) -> None:
        m, u = self._m, self._u
        self.problem = pulp.LpProblem(self.name, pulp.LpMaximize)
        y = _site_vars(self, m, self._predefined)
        reach = np.flatnonzero((np.diff(u.indptr) > 0) & (self.weights > 0))
        t = np.array([bulk_var(self.problem, f"t_{i}", 0, 1) for i in reach], dtype=object)
        self._y, self._t, self._reach, self._cuts = y, t, reach, 0
        self.problem.setObjective(bulk_affine(t, self.weights[reach]))
        _p_row(self.problem, y, self.p_facilities)
        c = self.competitor_utility[reach]
        sub = u[reach]
        # Clients without competitors: captured iff a reaching site is open.
        free = np.flatnonzero(c == 0)
        if len(free):
            pattern = sp.csr_array(sub[free])
            pattern.data[:] = 1.0
            self._add_cuts(free, pattern, np.zeros(len(free)))
        comp = np.flatnonzero(c > 0)
        if len(comp):
            top = np.array([np.sort(sub[[r]].data)[-self.p_facilities :].sum() for r in comp])
            for ubar in (np.zeros(len(comp)), top):
                self._tangent(comp, ubar)

    def _tangent(self, local: np.ndarray, ubar: np.ndarray) -> None:
        """Cuts t_i - s'(Ū) U_i <= s(Ū) - s'(Ū) Ū for the reach-local clients ``local``."""
        rows = self._reach[local]
        c = self.competitor_utility[rows]
        s = ubar / (ubar + c)
        slope = c / (ubar + c) ** 2
        coef = sp.csr_array(self._u[rows].multiply(slope[:, None]))
        self._add_cuts(local, coef, s - slope * ubar)

    def _add_cuts(self, local: np.ndarray, coef: sp.csr_array, rhs: np.ndarray) -> None:
        """Rows ``t_i - coef_i · y <= rhs_i``."""
        m, k = self._m, len(local)
        coo = sp.coo_array(coef)
        rows = np.concatenate([np.arange(k), coo.row])
        cols = np.concatenate([m + local, coo.col])
        vals = np.concatenate([np.ones(k), -coo.data])
        a = sp.csr_array((vals, (rows, cols)), shape=(k, m + len(self._t)))
        a.sum_duplicates()
        a.sort_indices()
        names = [f"cut{self._cuts}_{i}" for i in range(k)]
        self._cuts += 1
        add_bulk_rows(self.problem, np.concatenate([self._y, self._t]), a, pulp.LpConstraintLE, rhs, names)

    def captured(self, mask: np.ndarray) -> float:
        """Demand captured by the open own sites ``mask`` (bool per site), by the Huff rule."""
        big_u = self._u @ mask.astype(float)
        return float(self.weights @ self._share(big_u, np.arange(self._n)))

    def solve(
        self,
        solver: SolverArg = "highs",
        *,
        time_limit: float | None = None,
        mip_gap: float | None = None,
        threads: int | None = None,
        msg: bool = False,
        results: bool = True,
        tolerance: float = 1e-7,
        max_iterations: int = 500,
    ) -> MarketShare:
        """Solve by outer approximation until upper and lower bound meet within ``tolerance`` (relative)."""
        best_mask, best_val, upper = None, -math.inf, math.inf
        iterations = 0
        report = None
        while iterations < max_iterations:
            iterations += 1
            report = _solve_once(self.problem, solver, time_limit, mip_gap, threads, msg)
            if not report.has_solution:
                break
            mask = self._open_mask()
            val = self.captured(mask)
            if val > best_val:
                best_mask, best_val = mask, val
            if report.status != "optimal":
                upper = report.bound if report.bound is not None else math.inf
                break
            assert report.objective is not None  # an optimal report carries the plan's value
            upper = min(upper, float(report.bound if report.bound is not None else report.objective))
            if upper - best_val <= tolerance * max(1.0, abs(best_val)):
                break
            big_u = (self._u @ mask.astype(float))[self._reach]
            tv = _var_values(self._t)
            viol = np.flatnonzero(tv > self._share(big_u, self._reach) + 1e-9)
            viol = viol[self.competitor_utility[self._reach[viol]] > 0]
            if not len(viol):  # pragma: no cover - an optimal MIP above the plan's value violates a cut
                break
            self._tangent(viol, big_u[viol])
        self.report, self.stats["iterations"] = report, iterations
        if best_mask is None:
            self.status, self.objective = (report.status if report else "no_solution"), None
            return self
        for j, v in self._site_vars.items():
            v.varValue = 1.0 if best_mask[j] else 0.0
        self._collect()
        self.objective = best_val
        self.bound = upper if math.isfinite(upper) else None
        self.gap = relative_gap(self.objective, self.bound)
        self.status = "optimal" if self.gap is not None and self.gap <= max(tolerance, 1e-9) else "feasible"
        if results:
            self._fac2cli()
        return self

    def _set_assignment(self, mask: np.ndarray) -> None:
        # each client's most likely own facility (largest utility among open sites)
        u = sp.csr_array(self._u.multiply(mask[None, :].astype(float)))
        u.eliminate_zeros()
        self._open_u = u
        assign = np.full(self._n, -1, dtype=np.int64)
        has = np.diff(u.indptr) > 0
        if has.any():
            assign[has] = np.asarray(u.argmax(axis=1)).ravel()[has]
        self.assignment = assign
        big_u = u.sum(axis=1)
        self.capture_probability = self._share(np.asarray(big_u).ravel(), np.arange(self._n))

    def _served_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        oc = self._open_u.tocoo()
        return oc.row, oc.col

    @property
    def market_share(self) -> float | None:
        """Captured demand as a percentage of all demand (ArcGIS's market share)."""
        total = float(self.weights.sum())
        return None if self.objective is None or total == 0 else 100.0 * self.objective / total


class TargetMarketShare(MarketShare):
    r"""Fewest own facilities that reach a target Huff market share (ArcGIS "target market share").

    .. math::

       \textbf{Minimize}\ \sum_j Y_j \quad\text{s.t.}\quad
       \sum_i w_i \frac{U_i}{U_i + C_i} \ge \tau \sum_i w_i

    with :math:`U_i`, :math:`C_i` as in :class:`MarketShare`. The best share
    with :math:`p` facilities never falls as :math:`p` grows (more open sites
    only raise every :math:`U_i`), so a binary search over :math:`p`, each
    step an exact :class:`MarketShare` solve, finds the smallest :math:`p`;
    the plan returned is the one with the largest share at that :math:`p`
    (ArcGIS's tie-break). ``objective`` = the number of facilities;
    ``market_share`` = the share reached.
    """

    sense = pulp.LpMinimize

    def __init__(self, name: str, *, target_market_share: float, **inputs: Any) -> None:
        """Build the model (see :class:`MarketShare`) with the target share in percent."""
        super().__init__(name, **inputs)
        self.target_market_share = target_market_share

    @classmethod
    def from_cost_matrix(
        cls,
        cost_matrix: ArrayLike | sp.sparray | sp.spmatrix,
        weights: ArrayLike,
        target_market_share: float,
        competitor_cost_matrix: ArrayLike | sp.sparray | sp.spmatrix | None = None,
        attractiveness: ArrayLike | None = None,
        competitor_attractiveness: ArrayLike | None = None,
        decay: Decay = "power",
        beta: float = 1.0,
        cutoff: float | None = None,
        predefined_facilities_arr: ArrayLike | None = None,
        name: str = "target-market-share",
    ) -> Self:
        """As :meth:`MarketShare.from_cost_matrix`, with the target share in percent instead of ``p``."""
        try:
            tau = float(target_market_share)
        except (TypeError, ValueError):
            raise InputError(
                f"target_market_share must be a percentage, got {target_market_share!r}",
                field="target_market_share",
                hint="give the target as a percentage of all demand, e.g. target_market_share=40",
            ) from None
        if not 0 < tau <= 100:
            raise InputError(
                f"target_market_share must be in (0, 100], got {target_market_share!r}",
                field="target_market_share",
                hint="give the target as a percentage above 0 and at most 100, e.g. target_market_share=40",
            )
        m = _columns(cost_matrix)
        pre = _predefined_mask(predefined_facilities_arr, m)
        inputs = _market_inputs(
            cost_matrix,
            weights,
            max(1, int(pre.sum())),
            competitor_cost_matrix,
            attractiveness,
            competitor_attractiveness,
            decay,
            beta,
            cutoff,
            pre,
        )
        return cls(name, target_market_share=tau, **inputs)

    def solve(
        self,
        solver: SolverArg = "highs",
        *,
        time_limit: float | None = None,
        mip_gap: float | None = None,
        threads: int | None = None,
        msg: bool = False,
        results: bool = True,
        tolerance: float = 1e-7,
        max_iterations: int = 500,
    ) -> TargetMarketShare:
        """Binary search over p with exact market-share solves; raises InfeasibleError when all sites fall short."""
        target = self.target_market_share / 100.0 * float(self.weights.sum())
        all_open = self.captured(np.ones(self._m, dtype=bool))
        if all_open < target - tolerance * max(1.0, target):
            raise InfeasibleError(
                f"even all {self._m} sites capture only {100 * all_open / self.weights.sum():.4g}% "
                f"of demand, below the target {self.target_market_share:g}%",
                field="target_market_share",
                hint="lower target_market_share, or add candidate sites (or raise their attractiveness)",
            )
        lo, hi = max(1, int(self._predefined.sum())), self._m
        found: dict[int, tuple] = {}
        iterations = 0
        while lo < hi:
            mid = (lo + hi) // 2
            self.p_facilities = mid
            self._build()
            MarketShare.solve(
                self,
                solver,
                time_limit=time_limit,
                mip_gap=mip_gap,
                threads=threads,
                msg=msg,
                results=False,
                tolerance=tolerance,
                max_iterations=max_iterations,
            )
            iterations += self.stats["iterations"]
            if self.status != "optimal":
                break
            assert self.objective is not None  # an optimal solve leaves the captured demand
            if self.objective >= target - tolerance * max(1.0, target):
                hi = mid
                found[mid] = (self.selected_site_indices.copy(), self.objective)
            else:
                lo = mid + 1
        if self.status not in (None, "optimal") and lo < hi:
            return self  # honest: the search could not be completed
        if lo in found:
            sel, val = found[lo]
        else:
            self.p_facilities = lo
            self._build()
            MarketShare.solve(
                self,
                solver,
                time_limit=time_limit,
                mip_gap=mip_gap,
                threads=threads,
                msg=msg,
                results=False,
                tolerance=tolerance,
                max_iterations=max_iterations,
            )
            iterations += self.stats["iterations"]
            if self.status != "optimal":
                return self
            sel, val = self.selected_site_indices.copy(), self.objective
        mask = np.zeros(self._m, dtype=np.bool_)
        mask[sel] = True
        for j, v in self._site_vars.items():
            v.varValue = 1.0 if mask[j] else 0.0
        self.p_facilities = lo
        self._collect()
        self.captured_demand = val
        self.objective, self.bound, self.gap, self.status = float(lo), float(lo), 0.0, "optimal"
        self.stats["iterations"] = iterations
        if results:
            self._fac2cli()
        return self

    @property
    def market_share(self) -> float | None:
        """Captured demand of the plan as a percentage of all demand."""
        total = float(self.weights.sum())
        val = getattr(self, "captured_demand", None)
        return None if val is None or total == 0 else 100.0 * val / total
