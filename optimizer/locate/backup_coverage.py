"""Backup coverage: LSCP-B."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pulp
import scipy.sparse as sp

from ..errors import InfeasibleError
from ..solvers.highs_bulk import _add_rows, _affine, _var
from ._common import _p_row, _site_vars
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
        """
        n, m = coverage.shape
        super().__init__(name, n=n, m=m, predefined=predefined)
        self._cov = coverage
        self._solver: SolverArg = solver
        self.service_radius = service_radius
        self.lscp_obj_value = p_facilities
        self._open_cov = sp.csr_array((n, m))  # coverage by the open sites (after solve)
        self.backup = np.zeros(n, dtype=bool)  # per client: covered twice (after solve)
        y = _site_vars(self, m, predefined)
        counts = np.diff(coverage.indptr)
        self.n_single = int((counts < 2).sum())
        # Demand points with identical covering sets share one row and one U (weight = their number).
        codes, first = _merge_rows(coverage)
        size = np.bincount(codes, minlength=len(first)).astype(float)
        gcov = coverage[first]
        g = len(first)
        two = np.flatnonzero(np.diff(gcov.indptr) >= 2)
        u = np.array([_var(self.problem, f"u_{k}", 0, 1, pulp.LpBinary) for k in two], dtype=object)
        self._u = u
        self.problem.setObjective(_affine(u, size[two]))
        allv = np.concatenate([y, u])
        # Σ_j a_ij y_j - U_i >= 1 (U only where two sites are in reach).
        coo = gcov.tocoo()
        urow = np.full(g, -1)
        urow[two] = np.arange(len(two))
        rows = np.concatenate([coo.row, two])
        cols = np.concatenate([coo.col, m + urow[two]])
        vals = np.concatenate([np.ones(coo.nnz), -np.ones(len(two))])
        a = sp.csr_array((vals, (rows, cols)), shape=(g, m + len(two)))
        a.sort_indices()
        _add_rows(self.problem, allv, a, pulp.LpConstraintGE, np.ones(g), [f"backup_{k}" for k in range(g)])
        _p_row(self.problem, y, p_facilities)
        self.stats.update(
            {"clients": n, "sites": m, "coverage_pairs": int(coverage.nnz), "p": p_facilities, "demand_groups": g}
        )

    @classmethod
    def from_cost_matrix(
        cls,
        cost_matrix: ArrayLike | sp.sparray | sp.spmatrix,
        service_radius: float,
        solver: SolverArg = "highs",
        predefined_facilities_arr: ArrayLike | None = None,
        name: str = "lscp-b",
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
        """
        radius = _check_radius(service_radius)
        lscp = LSCP.from_cost_matrix(cost_matrix, radius, predefined_facilities_arr, name=f"{name}-lscp").solve(solver)
        if lscp.status != "optimal":
            raise InfeasibleError(
                f"the LSCP stage ended {lscp.status}, so p is not known",
                field="solver",
                hint="solve the LSCP alone (LSCP.from_cost_matrix(...).solve()) to see its report, or try the other solver ('highs' or 'cbc')",
            )
        cov = _coverage_csr(cost_matrix, radius)
        pre = _predefined_mask(predefined_facilities_arr, cov.shape[1])
        assert lscp.objective is not None  # an optimal LSCP has its objective
        p = int(round(lscp.objective))
        return cls(name, coverage=cov, service_radius=radius, predefined=pre, p_facilities=p, solver=solver)

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
    ) -> LSCPB:
        """Build from point layers (spopt's signature); distances in metres of a projected CRS."""
        radius = _check_radius(service_radius)
        cost = _geo_coverage(gdf_demand, gdf_fac, demand_col, facility_col, distance_metric, radius)
        pre = _geo_column(gdf_fac, predefined_facility_col, "predefined_facility_col")
        model = cls.from_cost_matrix(cost, radius, solver, pre, name=name)
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
