"""The p-dispersion problem."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pulp
import scipy.sparse as sp

from ..errors import InputError
from ..solvers.highs_bulk import add_bulk_rows, bulk_affine, bulk_var
from ._common import _p_row, _site_vars
from ._validate import (
    _check_p,
    _dense_costs,
    _geo_column,
    _geo_cost,
    _predefined_mask,
)
from .base import LocateModel

if TYPE_CHECKING:
    import geopandas as gpd
    from numpy.typing import ArrayLike

# =========================================================================== p-dispersion


class PDispersion(LocateModel):
    r"""p-dispersion (Kuby 1987; formulation after Maliszewski et al. 2012, as in spopt).

    Open exactly :math:`p` sites so that the smallest distance between two open
    sites, :math:`D`, is as large as possible:

    .. math::

       \begin{array}{lll}
       \textbf{Maximize}   & D \\
       \textbf{Subject to} & \sum_j Y_j = p \\
                           & D \le d_{ij} + (U - d_{ij})(2 - Y_i - Y_j) & \forall i < j:\ L \le d_{ij} < U \\
                           & Y_i + Y_j \le 1 & \forall i < j:\ d_{ij} < L \\
                           & L \le D \le U,\quad Y_j \in \{0, 1\}
       \end{array}

    spopt uses one big :math:`M = \max d` for every pair. Here :math:`U` is an
    upper bound (for any open site the distance to its nearest open
    neighbour is at most the :math:`(p-1)`-th largest distance from it, so
    :math:`D \le U = \max_i` of that) and :math:`L` the value of a greedy
    (farthest-point) plan. Pairs at :math:`d_{ij} \ge U` can never bind and
    are not built; pairs nearer than :math:`L` simply cannot both be open in a
    plan at least as good as the greedy one. The optimum is unchanged and the
    big-M rows are much tighter. Requires :math:`p \ge 2`.
    """

    sense = pulp.LpMaximize

    def __init__(self, name: str, *, costs: np.ndarray, p_facilities: int, predefined: np.ndarray) -> None:
        """Build the model from checked inputs (see :meth:`from_cost_matrix`); ``costs`` is sites × sites."""
        d, p, pre = costs, p_facilities, predefined
        m = d.shape[1]
        super().__init__(name, n=m, m=m, predefined=pre)
        d = np.minimum(d, d.T)  # one distance per pair
        iu, ju = np.triu_indices(m, 1)
        dist = d[iu, ju]
        off = d + np.diag(np.full(m, -np.inf))
        # U: (p-1)-th largest distance from each site, maximised over sites (over predefined ones if any).
        kth = -np.sort(-off, axis=1)[:, p - 2]
        upper = float(kth[pre].min()) if pre.any() else float(kth.max())
        plan = _dispersion_greedy(d, p, pre)
        sel = np.flatnonzero(plan)
        lower = float(d[np.ix_(sel, sel)][np.triu_indices(len(sel), 1)].min())
        self._d = d
        y = _site_vars(self, m, pre)
        dvar = bulk_var(self.problem, "D", lower, upper)
        self._dvar = dvar
        self.problem.setObjective(bulk_affine([dvar], [1.0]))
        _p_row(self.problem, y, p)
        allv = np.concatenate([y, [dvar]])
        near = np.flatnonzero(dist < lower)
        mid = np.flatnonzero((dist >= lower) & (dist < upper))
        k = len(near)
        conf = sp.csr_array(
            (np.ones(2 * k), (np.concatenate([np.arange(k)] * 2), np.concatenate([iu[near], ju[near]]))),
            shape=(k, m + 1),
        )
        conf.sort_indices()
        add_bulk_rows(
            self.problem, allv, conf, pulp.LpConstraintLE, np.ones(k), [f"conflict_{iu[q]}_{ju[q]}" for q in near]
        )
        # D + (U - d)(y_i + y_j) <= d + 2 (U - d)
        k2 = len(mid)
        mcoef = upper - dist[mid]
        rows = np.concatenate([np.arange(k2)] * 3)
        cols = np.concatenate([np.full(k2, m), iu[mid], ju[mid]])
        vals = np.concatenate([np.ones(k2), mcoef, mcoef])
        spread = sp.csr_array((vals, (rows, cols)), shape=(k2, m + 1))
        spread.sort_indices()
        add_bulk_rows(
            self.problem,
            allv,
            spread,
            pulp.LpConstraintLE,
            dist[mid] + 2 * mcoef,
            [f"spread_{iu[q]}_{ju[q]}" for q in mid],
        )
        self._start = {f"y_{j}": 1.0 for j in sel}
        self.stats.update(
            {
                "sites": m,
                "p": p,
                "lower": lower,
                "upper": upper,
                "conflict_rows": k,
                "spread_rows": k2,
                "pairs": len(dist),
            }
        )

    @classmethod
    def from_cost_matrix(
        cls,
        cost_matrix: ArrayLike,
        p_facilities: int,
        predefined_facilities_arr: ArrayLike | None = None,
        name: str = "p-dispersion",
    ) -> PDispersion:
        """Build from a sites × sites distance matrix (symmetric; the upper triangle is used).

        Parameters
        ----------
        cost_matrix
            Dense (sites × sites) distances.
        p_facilities
            Number of sites to open (at least 2).
        predefined_facilities_arr
            Sites that must be open (0/1 mask or indices).
        name
            Problem name.
        """
        d = _dense_costs(cost_matrix)
        m = d.shape[1]
        if d.shape[0] != m:
            raise InputError(
                f"p-dispersion needs a square sites × sites matrix, got shape {d.shape}",
                field="cost_matrix",
                hint="pass the distances between the candidate sites themselves (one row and one column per site)",
            )
        pre = _predefined_mask(predefined_facilities_arr, m)
        p = _check_p(p_facilities, m, int(pre.sum()))
        if p < 2:
            raise InputError(
                "p-dispersion needs p_facilities >= 2 (one site has no pairwise distance)",
                field="p_facilities",
                hint="set p_facilities to 2 or more",
            )
        return cls(name, costs=d, p_facilities=p, predefined=pre)

    @classmethod
    def from_geodataframe(
        cls,
        gdf_fac: gpd.GeoDataFrame,
        facility_col: str,
        p_facilities: int,
        predefined_facility_col: str | None = None,
        distance_metric: str = "euclidean",
        name: str = "p-dispersion",
    ) -> PDispersion:
        """Build from a point layer of sites (spopt's signature)."""
        cost = _geo_cost(gdf_fac, gdf_fac, facility_col, facility_col, distance_metric)
        pre = _geo_column(gdf_fac, predefined_facility_col, "predefined_facility_col")
        return cls.from_cost_matrix(cost, p_facilities, pre, name=name)._labelled(None, gdf_fac)

    def _set_assignment(self, mask: np.ndarray) -> None:
        self.assignment = np.where(mask, np.arange(self._m), -1)

    def _objective_value(self) -> float:
        sel = self.selected_site_indices
        sub = self._d[np.ix_(sel, sel)]
        return float(sub[np.triu_indices(len(sel), 1)].min())


def _dispersion_greedy(d: np.ndarray, p: int, pre: np.ndarray) -> np.ndarray:
    """Farthest-point greedy plan: start from the predefined sites (or the farthest pair), add the farthest site."""
    m = d.shape[0]
    mask = pre.copy()
    if mask.sum() == 0:
        i, j = np.unravel_index(np.argmax(d + np.diag(np.full(m, -np.inf))), d.shape)
        mask[[i, j]] = True
    elif mask.sum() == 1:
        only = int(np.flatnonzero(mask)[0])
        mask[int(np.argmax(np.where(mask, -np.inf, d[only])))] = True
    while mask.sum() < p:
        gap = np.where(mask, -np.inf, d[:, mask].min(axis=1))
        mask[int(np.argmax(gap))] = True
    return mask
