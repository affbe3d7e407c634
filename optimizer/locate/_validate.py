"""Checks and conversions of the inputs every classic model takes."""

from __future__ import annotations

import math
from typing import Any, overload

import geopandas as gpd
import numpy as np
import scipy.sparse as sp
from scipy.spatial.distance import cdist

from ..datum import planar_xy, projected_crs
from ..errors import InputError
from ..impedance.straight_line import coverage_matrix

# Guard on model size: beyond this many nonzeros PuLP alone would need many GiB.
_MAX_NONZEROS = 60_000_000


# =========================================================================== validation


def _dense_costs(cost_matrix: Any, what: str = "cost_matrix", *, allow_inf: bool = False) -> np.ndarray:
    if sp.issparse(cost_matrix):
        raise InputError(
            f"{what} must be a dense (clients × sites) array for this model",
            field=what,
            hint="call .toarray() on the sparse matrix; only the coverage models (LSCP, MCLP) take sparse input",
        )
    try:
        arr = np.asarray(cost_matrix, dtype=float)
    except (TypeError, ValueError):
        raise InputError(
            f"{what} must be a numeric (clients × sites) array",
            field=what,
            hint="pass a 2-D array of numbers: one row per client, one column per site",
        ) from None
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InputError(
            f"{what} must be a non-empty 2-D array (clients × sites), got shape {arr.shape}",
            field=what,
            hint="pass a 2-D array of numbers: one row per client, one column per site",
        )
    if np.isnan(arr).any():
        i, j = np.argwhere(np.isnan(arr))[0]
        raise InputError(
            f"{what} has NaN at client {i}, site {j}",
            field=what,
            hint="fill in every cost (np.inf marks a pair that is out of reach, where the model allows it)",
        )
    if not allow_inf and np.isinf(arr).any():
        i, j = np.argwhere(np.isinf(arr))[0]
        raise InputError(
            f"{what} has an infinite cost at client {i}, site {j}",
            field=what,
            hint="every client must be reachable from every site in this model",
        )
    if (arr < 0).any():
        i, j = np.argwhere(arr < 0)[0]
        raise InputError(
            f"{what} has a negative value {arr[i, j]:g} at client {i}, site {j}",
            field=what,
            hint="costs and distances must be 0 or more; check how the matrix was computed",
        )
    return arr


def _vector(values: Any, n: int, what: str, *, positive: bool = False) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise InputError(
            f"{what} must be numeric", field=what, hint="pass one number per client or site, e.g. a list or a 1-D array"
        ) from None
    if arr.shape != (n,):
        raise InputError(
            f"{what} has {arr.size} values, expected {n}",
            field=what,
            hint="give one value per client (a row of the cost matrix) or per site (a column), as the argument says",
        )
    if not np.isfinite(arr).all():
        k = int(np.argmax(~np.isfinite(arr)))
        raise InputError(f"{what}[{k}] is not finite", field=what, hint="replace inf or NaN with a finite number")
    if (arr < 0).any() or (positive and (arr <= 0).any()):
        k = int(np.argmax(arr <= 0 if positive else arr < 0))
        raise InputError(
            f"{what}[{k}] = {arr[k]:g} must be {'positive' if positive else 'non-negative'}",
            field=what,
            hint="give values of 0 or more (weights and demands) or more than 0 where the argument needs it",
        )
    return arr


def _predefined_mask(predefined: Any, m: int) -> np.ndarray:
    """spopt's convention: an array as long as the sites is a 0/1 mask, a shorter one holds indices."""
    if predefined is None:
        return np.zeros(m, dtype=bool)
    arr = np.asarray(predefined)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise InputError(
            "predefined_facilities_arr must be 1-D",
            field="predefined_facilities_arr",
            hint="pass a 0/1 mask as long as the sites, or a shorter array of site indices",
        )
    if arr.size == m:
        if not np.isin(arr, (0, 1, True, False)).all():
            raise InputError(
                "predefined_facilities_arr as long as the sites must be a 0/1 mask",
                field="predefined_facilities_arr",
                hint="use 0/1 (or False/True) for every site, or pass a shorter array of site indices",
            )
        return arr.astype(bool)
    if arr.size > m:
        raise InputError(
            f"predefined_facilities_arr has {arr.size} entries but there are only {m} sites",
            field="predefined_facilities_arr",
            hint="pass a 0/1 mask as long as the sites, or a shorter array of site indices",
        )
    if arr.size and (not np.issubdtype(arr.dtype, np.integer) or arr.min() < 0 or arr.max() >= m):
        raise InputError(
            f"predefined_facilities_arr shorter than the sites must hold site indices in 0..{m - 1}",
            field="predefined_facilities_arr",
            hint="site indices are column numbers of the cost matrix, counted from 0",
        )
    mask = np.zeros(m, dtype=bool)
    mask[arr.astype(np.int64)] = True
    return mask


def _check_p(p: Any, m: int, n_pre: int, what: str = "p_facilities") -> int:
    if isinstance(p, bool) or not isinstance(p, (int, np.integer)) and not (isinstance(p, float) and p.is_integer()):
        raise InputError(
            f"{what} must be an integer, got {p!r}",
            field=what,
            hint="give a whole number of facilities to open, e.g. p_facilities=5",
        )
    p = int(p)
    if not 1 <= p <= m:
        raise InputError(
            f"{what} must be in 1..{m} (the number of candidate sites), got {p}",
            field=what,
            hint="open at least one facility and at most one per candidate site",
        )
    if p < n_pre:
        raise InputError(
            f"{what} = {p} is fewer than the {n_pre} predefined (required) sites",
            field=what,
            hint="raise p_facilities, or predefine fewer sites",
        )
    return p


def _check_radius(radius: Any) -> float:
    try:
        r = float(radius)
    except (TypeError, ValueError):
        raise InputError(
            f"service_radius must be a number, got {radius!r}",
            field="service_radius",
            hint="give the service radius in the units of the cost matrix, e.g. service_radius=5000",
        ) from None
    if not math.isfinite(r) or r < 0:
        raise InputError(
            f"service_radius must be finite and non-negative, got {radius!r}",
            field="service_radius",
            hint="give the service radius in the units of the cost matrix, 0 or more, e.g. service_radius=5000",
        )
    return r


def _pairs_within(costs: sp.csr_array | np.ndarray, cutoff: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(client, site, cost) of the pairs with cost <= ``cutoff`` in a checked matrix.

    Of a sparse matrix only the stored entries count (they are the pairs in
    reach); of a dense one every entry. Pairs come in row-major order.
    """
    if isinstance(costs, np.ndarray):
        ii, jj = np.nonzero(costs <= cutoff)
        return ii.astype(np.int64), jj.astype(np.int64), costs[ii, jj]
    rows = np.repeat(np.arange(costs.shape[0]), np.diff(costs.indptr))
    keep = costs.data <= cutoff
    return rows[keep], costs.indices[keep].astype(np.int64), costs.data[keep].astype(float)


def _coverage_csr(cost_matrix: Any, radius: float) -> sp.csr_array:
    """Boolean-pattern CSR (clients × sites) of the pairs with cost <= radius.

    A dense matrix is thresholded in bulk. A scipy sparse matrix is read as
    "stored entries are the pairs in reach, valued by their distance" (what
    :func:`optimizer.distance.coverage_matrix` returns): explicit zeros are
    pairs at distance 0, missing entries are out of reach.
    """
    if sp.issparse(cost_matrix):
        mat = sp.csr_array(cost_matrix)
        mat.sum_duplicates()
        if mat.ndim != 2 or 0 in mat.shape:
            raise InputError(
                f"cost_matrix must be a non-empty 2-D matrix, got shape {mat.shape}",
                field="cost_matrix",
                hint="pass a clients × sites matrix with at least one row and one column",
            )
        if np.isnan(mat.data).any():
            raise InputError(
                "cost_matrix has NaN entries",
                field="cost_matrix",
                hint="replace NaN with the distance (in a sparse matrix, leave out pairs that are out of reach)",
            )
        rows, cols, _ = _pairs_within(mat, radius)
        shape = mat.shape
    else:
        arr = np.asarray(cost_matrix, dtype=float)
        if arr.ndim != 2 or 0 in arr.shape:
            raise InputError(
                f"cost_matrix must be a non-empty 2-D array (clients × sites), got shape {arr.shape}",
                field="cost_matrix",
                hint="pass a clients × sites matrix with at least one row and one column",
            )
        if np.isnan(arr).any():
            raise InputError(
                "cost_matrix has NaN entries",
                field="cost_matrix",
                hint="replace NaN with the distance (in a sparse matrix, leave out pairs that are out of reach)",
            )
        rows, cols, _ = _pairs_within(arr, radius)
        shape = arr.shape
    data = np.ones(len(rows), dtype=np.int32)
    out = sp.csr_array((data, (rows.astype(np.int64), cols.astype(np.int64))), shape=shape)
    out.sum_duplicates()
    out.data[:] = 1
    out.sort_indices()
    return out


# =========================================================================== geodata


def _geo_xy(
    gdf_demand: gpd.GeoDataFrame, gdf_fac: gpd.GeoDataFrame, demand_col: str, facility_col: str
) -> tuple[np.ndarray, np.ndarray]:
    """Planar coordinates (metres) of both layers, after checking their CRS."""

    for gdf, col, what in ((gdf_demand, demand_col, "gdf_demand"), (gdf_fac, facility_col, "gdf_fac")):
        if not isinstance(gdf, gpd.GeoDataFrame):
            raise InputError(
                f"{what} must be a GeoDataFrame",
                field=what,
                hint="pass a geopandas.GeoDataFrame, e.g. gpd.read_file('sites.gpkg')",
            )
        if col not in gdf.columns:
            raise InputError(
                f"{what} has no geometry column {col!r}",
                field=col,
                hint="name the layer's geometry column (default 'geometry')",
            )
        if len(gdf) == 0:
            raise InputError(f"{what} is empty", field=what, hint="give at least one row")
    dem = gdf_demand.set_geometry(demand_col)
    fac = gdf_fac.set_geometry(facility_col)
    if (dem.crs is None) != (fac.crs is None) or (dem.crs is not None and not dem.crs.equals(fac.crs)):
        raise InputError(
            f"demand CRS ({dem.crs}) and facility CRS ({fac.crs}) differ",
            field="crs",
            hint="reproject one layer with .to_crs() so both use the same CRS",
        )
    if dem.crs is None:
        # Without a CRS the coordinates are taken as planar, as spopt does.
        def xy(g: gpd.GeoDataFrame) -> np.ndarray:
            geoms = g.geometry if (g.geometry.geom_type == "Point").all() else g.geometry.representative_point()
            return np.column_stack([geoms.x.to_numpy(), geoms.y.to_numpy()])

        return xy(dem), xy(fac)
    crs = projected_crs(dem)  # geographic data gets its UTM zone, projected data stays as it is
    return planar_xy(dem, crs), planar_xy(fac, crs)


def _geo_cost(
    gdf_demand: gpd.GeoDataFrame, gdf_fac: gpd.GeoDataFrame, demand_col: str, facility_col: str, distance_metric: str
) -> np.ndarray:

    dxy, fxy = _geo_xy(gdf_demand, gdf_fac, demand_col, facility_col)
    try:
        return cdist(dxy, fxy, metric=distance_metric)
    except ValueError as exc:
        raise InputError(
            f"unknown distance_metric {distance_metric!r} ({exc})",
            field="distance_metric",
            hint="use a metric of scipy.spatial.distance.cdist, e.g. 'euclidean' or 'cityblock'",
        ) from None


def _geo_coverage(
    gdf_demand: gpd.GeoDataFrame,
    gdf_fac: gpd.GeoDataFrame,
    demand_col: str,
    facility_col: str,
    distance_metric: str,
    radius: float,
) -> sp.csr_array | np.ndarray:
    """Coverage for geodata: a k-d tree for Euclidean distance, dense cdist otherwise."""
    if distance_metric == "euclidean":
        dxy, fxy = _geo_xy(gdf_demand, gdf_fac, demand_col, facility_col)
        return coverage_matrix(dxy, fxy, radius)
    return _geo_cost(gdf_demand, gdf_fac, demand_col, facility_col, distance_metric)


@overload
def _geo_column(gdf: gpd.GeoDataFrame, col: str, what: str) -> np.ndarray: ...
@overload
def _geo_column(gdf: gpd.GeoDataFrame, col: None, what: str) -> None: ...
@overload
def _geo_column(gdf: gpd.GeoDataFrame, col: str | None, what: str) -> np.ndarray | None: ...
def _geo_column(gdf: gpd.GeoDataFrame, col: str | None, what: str) -> np.ndarray | None:
    if col is None:
        return None
    if col not in gdf.columns:
        raise InputError(f"column {col!r} not found", field=col, hint=f"{what} must name a column of the layer")
    return gdf[col].to_numpy()


@overload
def _geo_inputs(
    gdf_demand: gpd.GeoDataFrame,
    gdf_fac: gpd.GeoDataFrame,
    demand_col: str,
    facility_col: str,
    distance_metric: str,
    weights_cols: str,
    predefined_facility_col: str | None,
    *,
    cutoff: float = math.inf,
) -> tuple[sp.csr_array | np.ndarray, np.ndarray, np.ndarray | None]: ...
@overload
def _geo_inputs(
    gdf_demand: gpd.GeoDataFrame,
    gdf_fac: gpd.GeoDataFrame,
    demand_col: str,
    facility_col: str,
    distance_metric: str,
    weights_cols: None,
    predefined_facility_col: str | None,
    *,
    cutoff: float = math.inf,
) -> tuple[sp.csr_array | np.ndarray, None, np.ndarray | None]: ...
def _geo_inputs(
    gdf_demand: gpd.GeoDataFrame,
    gdf_fac: gpd.GeoDataFrame,
    demand_col: str,
    facility_col: str,
    distance_metric: str,
    weights_cols: str | None,
    predefined_facility_col: str | None,
    *,
    cutoff: float = math.inf,
) -> tuple[sp.csr_array | np.ndarray, np.ndarray | None, np.ndarray | None]:
    """What every ``from_geodataframe`` reads from the layers: costs, demand weights and predefined sites.

    Parameters
    ----------
    gdf_demand, gdf_fac : geopandas.GeoDataFrame
        The demand and site layers.
    demand_col, facility_col : str
        Their geometry columns.
    distance_metric : str
        A metric of :func:`scipy.spatial.distance.cdist`.
    weights_cols : str or None
        The demand layer's weight column (``None``: the model has no weights).
    predefined_facility_col : str or None
        The site layer's column of sites that must be open.
    cutoff : float
        With a finite cutoff, only the pairs within it (a k-d tree for
        Euclidean distance, see :func:`_geo_coverage`); else the full matrix.

    Returns
    -------
    tuple
        The costs, the weights (``None`` without ``weights_cols``) and the
        predefined sites (``None`` without ``predefined_facility_col``).
    """
    if math.isfinite(cutoff):
        cost = _geo_coverage(gdf_demand, gdf_fac, demand_col, facility_col, distance_metric, cutoff)
    else:
        cost = _geo_cost(gdf_demand, gdf_fac, demand_col, facility_col, distance_metric)
    weights = _geo_column(gdf_demand, weights_cols, "weights_cols")
    pre = _geo_column(gdf_fac, predefined_facility_col, "predefined_facility_col")
    return cost, weights, pre
