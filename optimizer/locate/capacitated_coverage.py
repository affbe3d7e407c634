"""Capacitated maximal covering."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pulp
import scipy.sparse as sp

from ..solvers.highs_bulk import bulk_affine, bulk_var
from ._common import _allocation_rows, _p_row, _pairs_in_reach, _site_vars, _var_values
from ._validate import (
    _check_p,
    _check_radius,
    _geo_column,
    _geo_inputs,
    _predefined_mask,
    _vector,
)
from .base import LocateModel

if TYPE_CHECKING:
    import geopandas as gpd
    from numpy.typing import ArrayLike

# =========================================================================== capacitated MCLP


class CapacitatedMCLP(LocateModel):
    r"""Maximal covering with capacities (Current & Storbeck 1988; ArcGIS "maximize capacitated coverage").

    .. math::

       \begin{array}{lll}
       \textbf{Maximize}   & \sum_i \sum_{j \in N_i} w_i X_{ij} \\
       \textbf{Subject to} & \sum_{j \in N_i} X_{ij} \le 1 & \forall i \\
                           & X_{ij} \le Y_j & \forall i, j \in N_i \\
                           & \sum_{i} w_i X_{ij} \le c_j Y_j & \forall j \\
                           & \sum_j Y_j = p,\quad Y_j \in \{0, 1\}
       \end{array}

    :math:`N_i` = sites within ``service_radius`` of client :math:`i`.
    With ``single_source=True`` (default; ArcGIS allocates a demand point
    wholly or not at all) :math:`X_{ij} \in \{0, 1\}`; otherwise
    :math:`X_{ij} \in [0, 1]` (demand may be split and partly covered).
    Without binding capacities this is spopt's MCLP. Only pairs in reach are
    built. ``objective`` = covered demand weight.
    """

    sense = pulp.LpMaximize

    def __init__(
        self,
        name: str,
        *,
        pairs: tuple[np.ndarray, np.ndarray],
        shape: tuple[int, int],
        weights: np.ndarray,
        capacities: np.ndarray,
        service_radius: float,
        p_facilities: int,
        predefined: np.ndarray,
        single_source: bool,
    ) -> None:
        """Build the model from checked inputs (see :meth:`from_cost_matrix`); ``pairs`` = (client, site) in reach."""
        n, m = shape
        super().__init__(name, n=n, m=m, predefined=predefined)
        ii, jj = pairs
        self.weights, self.capacities, self.service_radius = weights, capacities, service_radius
        self._frac = np.zeros(len(ii))
        self.allocation = sp.csr_array((n, m))
        y = _site_vars(self, m, predefined)
        cat = pulp.LpBinary if single_source else pulp.LpContinuous
        self._x = np.array(
            [bulk_var(self.problem, f"x_{i}_{j}", 0, 1, cat) for i, j in zip(ii, jj, strict=False)], dtype=object
        )
        self._pairs = (ii, jj)
        self.problem.setObjective(bulk_affine(self._x, weights[ii]))
        if len(self._x):
            _allocation_rows(self.problem, y, self._x, ii, jj, n, pulp.LpConstraintLE, weights, capacities)
        _p_row(self.problem, y, p_facilities)
        self.stats.update({"clients": n, "sites": m, "pairs": len(ii)})

    @classmethod
    def from_cost_matrix(
        cls,
        cost_matrix: ArrayLike | sp.sparray | sp.spmatrix,
        weights: ArrayLike,
        service_radius: float,
        p_facilities: int,
        capacities: ArrayLike,
        predefined_facilities_arr: ArrayLike | None = None,
        name: str = "capacitated-mclp",
        *,
        single_source: bool = True,
    ) -> CapacitatedMCLP:
        """Build from a clients × sites cost matrix (dense, or sparse pairs in reach).

        Parameters
        ----------
        cost_matrix
            Distances; a scipy sparse matrix stores only the pairs in reach.
        weights
            Demand per client.
        service_radius
            Coverage distance (``<=``).
        p_facilities
            Exact number of open sites.
        capacities
            Demand each site can serve.
        predefined_facilities_arr
            Sites that must be open.
        name
            Problem name.
        single_source
            A client is covered wholly by one site, or not at all.
        """
        radius = _check_radius(service_radius)
        ii, jj, _, (n, m) = _pairs_in_reach(cost_matrix, radius)
        w = _vector(weights, n, "weights")
        cap = _vector(capacities, m, "capacities")
        pre = _predefined_mask(predefined_facilities_arr, m)
        p = _check_p(p_facilities, m, int(pre.sum()))
        return cls(
            name,
            pairs=(ii, jj),
            shape=(n, m),
            weights=w,
            capacities=cap,
            service_radius=radius,
            p_facilities=p,
            predefined=pre,
            single_source=single_source,
        )

    @classmethod
    def from_geodataframe(
        cls,
        gdf_demand: gpd.GeoDataFrame,
        gdf_fac: gpd.GeoDataFrame,
        demand_col: str,
        facility_col: str,
        weights_cols: str,
        service_radius: float,
        p_facilities: int,
        facility_capacity_col: str,
        predefined_facility_col: str | None = None,
        distance_metric: str = "euclidean",
        name: str = "capacitated-mclp",
        *,
        single_source: bool = True,
    ) -> CapacitatedMCLP:
        """Build from point layers; a k-d tree finds the pairs in reach."""
        radius = _check_radius(service_radius)
        cost, w, pre = _geo_inputs(
            gdf_demand,
            gdf_fac,
            demand_col,
            facility_col,
            distance_metric,
            weights_cols,
            predefined_facility_col,
            cutoff=radius,
        )
        cap = _geo_column(gdf_fac, facility_capacity_col, "facility_capacity_col")
        return cls.from_cost_matrix(
            cost, w, radius, p_facilities, cap, pre, name=name, single_source=single_source
        )._labelled(gdf_demand, gdf_fac)

    def _set_assignment(self, mask: np.ndarray) -> None:
        ii, jj = self._pairs
        frac = np.clip(_var_values(self._x), 0.0, 1.0)
        frac[~mask[jj]] = 0.0
        self._frac = frac
        self.allocation = sp.csr_array((frac, (ii, jj)), shape=(self._n, self._m))
        self.allocation.eliminate_zeros()
        assign = np.full(self._n, -1, dtype=np.int64)
        pos = frac > 1e-9
        # the site serving the largest share of each client
        order = np.lexsort((-frac[pos], ii[pos]))
        ci, cj = ii[pos][order], jj[pos][order]
        first = np.ones(len(ci), dtype=bool)
        first[1:] = ci[1:] != ci[:-1]
        assign[ci[first]] = cj[first]
        self.assignment = assign

    def _objective_value(self) -> float:
        return float(self.weights[self._pairs[0]] @ self._frac)

    def _served_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        a = self.allocation.tocoo()
        return a.row, a.col
