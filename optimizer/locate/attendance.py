"""Distance decay and the maximize-attendance problem."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pulp

from ..errors import InputError
from ..solvers.highs_bulk import bulk_affine, bulk_var
from ._common import _allocation_rows, _p_row, _pairs_in_reach, _site_vars
from ._validate import (
    _check_p,
    _geo_inputs,
    _predefined_mask,
    _vector,
)
from .base import LocateModel

if TYPE_CHECKING:
    import geopandas as gpd
    import scipy.sparse as sp
    from numpy.typing import ArrayLike

Decay = Literal["linear", "power", "exponential"]


def decay_weights(distance: np.ndarray, decay: Decay, beta: float, cutoff: float) -> np.ndarray:
    r"""Share of demand that attends a facility at ``distance`` (ArcGIS's impedance transformations).

    .. math::

        a(d) = \begin{cases}
            1 - d / d_{\max}                        & \text{linear} \\
            \min(1, d^{-\beta})                     & \text{power} \\
            e^{-\beta d}                            & \text{exponential}
        \end{cases}
        \qquad\text{and } a(d) = 0 \text{ for } d > d_{\max}.

    ArcGIS transforms the impedance into ``β·d``, ``d^β`` or ``e^{β d}`` and
    lets attendance fall in proportion to it; the power form is capped at 1
    (demand within one distance unit attends fully) so a share never exceeds
    the demand.

    Parameters
    ----------
    distance
        Distances (non-negative).
    decay
        ``"linear"``, ``"power"`` or ``"exponential"``.
    beta
        Decay parameter (ignored by ``"linear"``).
    cutoff
        Largest distance at which anyone attends (``inf`` allowed except for
        ``"linear"``).

    Returns
    -------
    numpy.ndarray
        The attending share per distance, in ``[0, 1]``.
    """
    d = np.asarray(distance, dtype=float)
    if decay == "linear":
        out = 1.0 - d / cutoff if cutoff > 0 else (d <= 0).astype(float)
    elif decay == "power":
        out = np.where(d <= 1.0, 1.0, np.power(np.maximum(d, 1.0), -beta))
    elif decay == "exponential":
        out = np.exp(-beta * d)
    else:
        raise InputError(
            f"decay must be 'linear', 'power' or 'exponential', got {decay!r}",
            field="decay",
            hint="use decay='linear', decay='power' or decay='exponential'",
        )
    return np.where(d <= cutoff, np.clip(out, 0.0, 1.0), 0.0)


def _check_decay(decay: Any, beta: Any, cutoff: Any) -> tuple[Decay, float, float]:
    """The decay form, ``beta`` and the cutoff (``inf`` when none), checked."""
    if decay not in ("linear", "power", "exponential"):
        raise InputError(
            f"decay must be 'linear', 'power' or 'exponential', got {decay!r}",
            field="decay",
            hint="use decay='linear', decay='power' or decay='exponential'",
        )
    try:
        b = float(beta)
    except (TypeError, ValueError):
        raise InputError(
            f"beta must be a number, got {beta!r}", field="beta", hint="give beta as a positive number, e.g. beta=1.0"
        ) from None
    if not math.isfinite(b) or b <= 0:
        raise InputError(
            f"beta must be positive and finite, got {beta!r}",
            field="beta",
            hint="give beta as a positive number, e.g. beta=1.0",
        )
    if cutoff is None:
        if decay == "linear":
            raise InputError(
                "linear decay needs a cutoff (attendance falls to 0 at the cutoff)",
                field="cutoff",
                hint="pass cutoff= (the largest distance at which anyone attends), or use decay='power' or 'exponential'",
            )
        return decay, b, math.inf
    try:
        c = float(cutoff)
    except (TypeError, ValueError):
        raise InputError(
            f"cutoff must be a number, got {cutoff!r}",
            field="cutoff",
            hint="give cutoff as a number, 0 or more, in the units of the cost matrix",
        ) from None
    if math.isnan(c) or c < 0 or (decay == "linear" and not math.isfinite(c)):
        raise InputError(
            f"cutoff must be non-negative{' and finite' if decay == 'linear' else ''}, got {cutoff!r}",
            field="cutoff",
            hint="give cutoff as a number, 0 or more (finite for linear decay), in the units of the cost matrix",
        )
    return decay, b, c


# =========================================================================== maximize attendance


class MaxAttendance(LocateModel):
    r"""Maximise attendance with distance decay (Holmes, Williams & Brown 1972; ArcGIS "maximize attendance").

    Demand goes to its nearest open facility and attends in the share
    :math:`a(d)` given by :func:`decay_weights` (linear :math:`1 - d/d_{\max}`,
    power :math:`\min(1, d^{-\beta})` or exponential :math:`e^{-\beta d}`,
    and 0 beyond the cutoff :math:`d_{\max}`):

    .. math::

       \begin{array}{lll}
       \textbf{Maximize}   & \sum_i \sum_{j \in N_i} w_i a(d_{ij}) X_{ij} \\
       \textbf{Subject to} & \sum_{j \in N_i} X_{ij} \le 1 & \forall i \\
                           & X_{ij} \le Y_j & \forall i, j \in N_i \\
                           & \sum_j Y_j = p,\quad Y_j \in \{0, 1\},\ X_{ij} \ge 0
       \end{array}

    Because :math:`a` decreases with distance, an optimal :math:`X` picks the
    nearest open site, so the value is exactly
    :math:`\sum_i w_i a(\min_{j\ \text{open}} d_{ij})`. :math:`N_i` holds the
    sites within the cutoff with :math:`a > 0`; cost grows with these pairs.
    ``objective`` = attending demand.
    """

    sense = pulp.LpMaximize

    def __init__(
        self,
        name: str,
        *,
        pairs: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
        shape: tuple[int, int],
        weights: np.ndarray,
        p_facilities: int,
        decay: Decay,
        beta: float,
        cutoff: float,
        predefined: np.ndarray,
    ) -> None:
        """Build the model from checked inputs (see :meth:`from_cost_matrix`).

        ``pairs`` holds (client, site, distance, attending share) of the pairs
        with a share above 0; ``shape`` is (clients, sites).
        """
        n, m = shape
        super().__init__(name, n=n, m=m, predefined=predefined)
        ii, jj, dd, a = pairs
        self.weights, self.decay, self.beta, self.cutoff = weights, decay, beta, cutoff
        self.attending_share = np.zeros(n)
        y = _site_vars(self, m, predefined)
        self._x = np.array(
            [bulk_var(self.problem, f"x_{i}_{j}", 0, 1) for i, j in zip(ii, jj, strict=False)], dtype=object
        )
        self._pairs, self._dist, self._share = (ii, jj), dd, a
        self.problem.setObjective(bulk_affine(self._x, weights[ii] * a))
        if len(self._x):
            _allocation_rows(self.problem, y, self._x, ii, jj, n, pulp.LpConstraintLE)
        _p_row(self.problem, y, p_facilities)
        self.stats.update({"clients": n, "sites": m, "pairs": len(ii)})

    @classmethod
    def from_cost_matrix(
        cls,
        cost_matrix: ArrayLike | sp.sparray | sp.spmatrix,
        weights: ArrayLike,
        p_facilities: int,
        cutoff: float | None = None,
        decay: Decay = "linear",
        beta: float = 1.0,
        predefined_facilities_arr: ArrayLike | None = None,
        name: str = "max-attendance",
    ) -> MaxAttendance:
        """Build from a clients × sites cost matrix (dense, or sparse pairs in reach).

        Parameters
        ----------
        cost_matrix
            Distances or travel times.
        weights
            Demand per client.
        p_facilities
            Exact number of open sites.
        cutoff
            Largest impedance at which demand attends (required for linear decay).
        decay, beta
            Decay form and parameter (see :func:`decay_weights`).
        predefined_facilities_arr
            Sites that must be open.
        name
            Problem name.
        """
        decay, beta, cut = _check_decay(decay, beta, cutoff)
        ii, jj, dd, (n, m) = _pairs_in_reach(cost_matrix, cut)
        a = decay_weights(dd, decay, beta, cut)
        pos = a > 0
        ii, jj, dd, a = ii[pos], jj[pos], dd[pos], a[pos]
        w = _vector(weights, n, "weights")
        pre = _predefined_mask(predefined_facilities_arr, m)
        p = _check_p(p_facilities, m, int(pre.sum()))
        return cls(
            name,
            pairs=(ii, jj, dd, a),
            shape=(n, m),
            weights=w,
            p_facilities=p,
            decay=decay,
            beta=beta,
            cutoff=cut,
            predefined=pre,
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
        cutoff: float | None = None,
        decay: Decay = "linear",
        beta: float = 1.0,
        predefined_facility_col: str | None = None,
        distance_metric: str = "euclidean",
        name: str = "max-attendance",
    ) -> MaxAttendance:
        """Build from point layers (a k-d tree finds the pairs within a finite cutoff)."""
        _, _, cut = _check_decay(decay, beta, cutoff)
        cost, w, pre = _geo_inputs(
            gdf_demand,
            gdf_fac,
            demand_col,
            facility_col,
            distance_metric,
            weights_cols,
            predefined_facility_col,
            cutoff=cut,
        )
        return cls.from_cost_matrix(cost, w, p_facilities, cutoff, decay, beta, pre, name=name)._labelled(
            gdf_demand, gdf_fac
        )

    def _set_assignment(self, mask: np.ndarray) -> None:
        ii, jj = self._pairs
        ok = mask[jj]
        # nearest open site in reach (largest share; ties to the lower index)
        order = np.lexsort((jj[ok], -self._share[ok], ii[ok]))
        ci, cj, ca = ii[ok][order], jj[ok][order], self._share[ok][order]
        first = np.ones(len(ci), dtype=bool)
        first[1:] = ci[1:] != ci[:-1]
        assign = np.full(self._n, -1, dtype=np.int64)
        assign[ci[first]] = cj[first]
        self.attending_share = np.zeros(self._n)
        self.attending_share[ci[first]] = ca[first]
        self.assignment = assign

    def _objective_value(self) -> float:
        return float(self.weights @ self.attending_share)
