r"""Spatial accessibility by floating catchments (2SFCA, E2SFCA), and inequality indices.

Two-step floating catchment area (Luo & Wang 2003), enhanced with distance
weights (E2SFCA, Luo & Qi 2009), computed from the sparse (demand, facility,
distance) pairs within the catchment — the cost grows with the pairs in reach,
never with demand × facilities:

.. math::

    R_j = \frac{S_j}{\sum_{i:\, d_{ij} \le d_0} P_i\, W(d_{ij})}, \qquad
    A_i = \sum_{j:\, d_{ij} \le d_0} R_j\, W(d_{ij}),

with supply :math:`S_j` (a facility's capacity), demand :math:`P_i`
(people), catchment :math:`d_0` and weight :math:`W`:

* ``"2sfca"``: :math:`W = 1` within the catchment;
* ``"gaussian"`` (E2SFCA with a continuous Gaussian weight, Dai 2010):
  :math:`W(d) = \dfrac{e^{-\frac12 (d/d_0)^2} - e^{-\frac12}}{1 - e^{-\frac12}}`;
* ``"stepped"`` (E2SFCA, Luo & Qi 2009): zones given as
  ``[(upper_1, w_1), (upper_2, w_2), …]`` (fractions of :math:`d_0`), e.g.
  the default ``((1/3, 1.0), (2/3, 0.68), (1, 0.22))``.

A facility with no demand in its catchment has :math:`R_j = 0`. The result
conserves supply: :math:`\sum_i P_i A_i = \sum_{j \text{ reached}} S_j`.
An admin unit's accessibility is the population-weighted mean of
:math:`A_i` over its demand points.

:func:`gini` and :func:`theil` are the population-weighted Gini and Theil T
indices of any per-unit or per-point value (coverage rate, accessibility).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import geopandas as gpd
import numpy as np
import pandas as pd

from .datum import planar_xy
from .errors import InputError
from .impedance import Points, StraightLine, facility_points, impedance_for
from .impedance.straight_line import coverage_pairs

if TYPE_CHECKING:  # pragma: no cover - annotations only
    from .scenario import Scenario

__all__ = [
    "DEFAULT_STEPS",
    "accessibility_by_demand",
    "accessibility_by_unit",
    "catchment_weights",
    "floating_catchment",
    "gini",
    "inequality_by_type",
    "layout_accessibility",
    "theil",
]

Method = Literal["2sfca", "gaussian", "stepped"]
DEFAULT_STEPS: tuple[tuple[float, float], ...] = ((1 / 3, 1.0), (2 / 3, 0.68), (1.0, 0.22))


def catchment_weights(
    distance: np.ndarray,
    catchment: np.ndarray | float,
    method: Method = "gaussian",
    steps: Sequence[tuple[float, float]] = DEFAULT_STEPS,
) -> np.ndarray:
    """Distance weight ``W(d)`` of each pair (0 beyond the catchment).

    Parameters
    ----------
    distance
        Pair distances.
    catchment
        Catchment size ``d0`` (one value, or one per pair).
    method
        ``"2sfca"``, ``"gaussian"`` or ``"stepped"``.
    steps
        For ``"stepped"``: increasing ``(upper bound as a fraction of d0, weight)``.

    Returns
    -------
    numpy.ndarray
        Weights in ``[0, 1]``.
    """
    d = np.asarray(distance, dtype=float)
    d0 = np.broadcast_to(np.asarray(catchment, dtype=float), d.shape)
    inside = d <= d0
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(d0 > 0, d / d0, 0.0)
    if method == "2sfca":
        w = np.ones_like(d)
    elif method == "gaussian":
        e = math.exp(-0.5)
        w = (np.exp(-0.5 * rel**2) - e) / (1 - e)
    elif method == "stepped":
        bounds = [float(b) for b, _ in steps]
        if not steps or any(b2 <= b1 for b1, b2 in zip(bounds, bounds[1:], strict=False)) or bounds[-1] < 1.0:
            raise InputError(
                "steps must be increasing (upper bound, weight) pairs ending at 1.0 (the catchment)",
                field="steps",
                hint="give steps as ((share of the catchment, weight), ...) with rising shares, the last 1.0, "
                "e.g. the default ((1/3, 1.0), (2/3, 0.68), (1.0, 0.22))",
            )
        vals = np.array([float(v) for _, v in steps] + [0.0])
        w = vals[np.searchsorted(np.array(bounds), rel, side="left")]
    else:
        raise InputError(
            f"method must be '2sfca', 'gaussian' or 'stepped', got {method!r}",
            field="method",
            hint="use method='gaussian' (the default), '2sfca' or 'stepped'",
        )
    return np.where(inside, np.clip(w, 0.0, 1.0), 0.0)


def floating_catchment(
    rows: np.ndarray,
    cols: np.ndarray,
    distance: np.ndarray,
    population: np.ndarray,
    supply: np.ndarray,
    catchment: np.ndarray | float,
    method: Method = "gaussian",
    steps: Sequence[tuple[float, float]] = DEFAULT_STEPS,
) -> tuple[np.ndarray, np.ndarray]:
    """Supply-to-demand ratios: ``A_i`` per demand point and ``R_j`` per facility.

    Parameters
    ----------
    rows, cols, distance
        The (demand, facility, distance) pairs in reach (e.g. from
        :func:`optimizer.distance.coverage_pairs`); other pairs are out of reach.
    population
        People per demand point (length = number of demand points).
    supply
        Capacity per facility (length = number of facilities).
    catchment
        ``d0``: one value, or one per demand point (per-pair catchments are
        taken from the demand point).
    method, steps
        See :func:`catchment_weights`.

    Returns
    -------
    access, ratio
        ``A_i`` (supply per person) and ``R_j``.
    """
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    pop = np.asarray(population, dtype=float)
    sup = np.asarray(supply, dtype=float)
    if (pop < 0).any() or not np.isfinite(pop).all():
        raise InputError(
            "population must be finite and non-negative",
            field="population",
            hint="give every demand point a population of 0 or more (no NaN or infinity)",
        )
    if (sup < 0).any() or not np.isfinite(sup).all():
        raise InputError(
            "supply must be finite and non-negative",
            field="supply",
            hint="give every facility a supply (capacity) of 0 or more (no NaN or infinity)",
        )
    d0 = np.asarray(catchment, dtype=float)
    d0_pairs = d0[rows] if d0.ndim else d0
    w = catchment_weights(distance, d0_pairs, method, steps)
    demand_j = np.bincount(cols, weights=pop[rows] * w, minlength=len(sup))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(demand_j > 0, sup / np.where(demand_j > 0, demand_j, 1.0), 0.0)
    access = np.bincount(rows, weights=ratio[cols] * w, minlength=len(pop))
    return access, ratio


def gini(values: np.ndarray, weights: np.ndarray | None = None) -> float:
    r"""Population-weighted Gini index :math:`\frac{\sum_i\sum_k p_i p_k |x_i - x_k|}{2 (\sum p)^2 \mu}`.

    Computed from the sorted values in :math:`O(n \log n)`. Entries with zero
    weight or a NaN value are left out; ``nan`` when the weighted mean is 0 or
    nothing is left.
    """
    x = np.asarray(values, dtype=float)
    p = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    keep = np.isfinite(x) & (p > 0)
    x, p = x[keep], p[keep]
    if not len(x) or (x < 0).any():
        return math.nan if not len(x) else _negative()
    total, mean = p.sum(), float(p @ x) / p.sum()
    if mean <= 0:
        return math.nan
    order = np.argsort(x, kind="stable")
    x, p = x[order], p[order]
    # Σ_i Σ_k p_i p_k |x_i - x_k| = 2 Σ_i p_i x_i (2 P_{<i} + p_i - P) over sorted x (P_{<i}: weight below i)
    below = np.cumsum(p) - p
    pair_sum = 2.0 * float(np.sum(p * x * (2 * below + p - total)))
    return pair_sum / (2.0 * total**2 * mean)


def theil(values: np.ndarray, weights: np.ndarray | None = None) -> float:
    r"""Population-weighted Theil T index :math:`\sum_i \omega_i \frac{x_i}{\mu} \ln \frac{x_i}{\mu}` (0 ln 0 = 0).

    :math:`\omega_i = p_i / \sum p`; same exclusions as :func:`gini`.
    """
    x = np.asarray(values, dtype=float)
    p = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    keep = np.isfinite(x) & (p > 0)
    x, p = x[keep], p[keep]
    if not len(x):
        return math.nan
    if (x < 0).any():
        return _negative()
    om = p / p.sum()
    mean = float(om @ x)
    if mean <= 0:
        return math.nan
    r = x / mean
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(r > 0, r * np.log(np.where(r > 0, r, 1.0)), 0.0)
    return float(om @ terms)


def _negative() -> float:
    raise InputError(
        "inequality indices need non-negative values",
        field="values",
        hint="pass rates, accessibility scores or other amounts of 0 or more",
    )


# --------------------------------------------------------------------------- scenario level


def layout_accessibility(
    scenario: Scenario, facilities: gpd.GeoDataFrame, method: Method = "gaussian"
) -> dict[str, np.ndarray]:
    """E2SFCA accessibility per demand point for every planned type of a layout.

    The catchment of a demand point is its service standard (urban or rural
    radius of the type); supply is the facility's capacity, the type's
    capacity when the facility has none, and 1 (facilities per person) for
    types without capacities. Travel is measured with the type's impedance,
    the one the model and :func:`optimizer.evaluate.evaluate_layout` use
    (:func:`optimizer.impedance.impedance_for`): straight-line distance
    against the standard's radius, terrain-adjusted km against the
    terrain-adjusted radius, or network / matrix minutes (km) against a
    standard in minutes (km). Only the pairs within the standard are formed.

    Returns
    -------
    dict
        ``{type_id: A_i per demand point}`` (supply units per person).
    """
    region = scenario.region
    crs = region.projected_crs
    demand_xy = planar_xy(region.demand, crs)
    urban = region.demand["urban"].to_numpy(dtype=bool) if "urban" in region.demand else np.zeros(len(demand_xy), bool)
    fac_xy = planar_xy(facilities, crs) if len(facilities) else np.empty((0, 2))
    demand = Points(region.demand.index.astype(str).to_numpy(), demand_xy)
    fac_types = facilities["facility_type"].astype(str).to_numpy()
    fac_cap = (
        facilities["capacity"].to_numpy(dtype=float) if "capacity" in facilities else np.full(len(facilities), np.nan)
    )
    out: dict[str, np.ndarray] = {}
    for type_id, ftype in scenario.catalogue.items():
        mask = fac_types == type_id
        pop = region.group_population(ftype.serves)
        if not mask.any():
            out[type_id] = np.zeros(len(demand_xy))
            continue
        default = 1.0 if ftype.capacity is None else float(ftype.capacity)
        supply = np.where(np.isnan(fac_cap[mask]), default, fac_cap[mask])
        impedance = impedance_for(scenario, type_id)
        if type(impedance) is StraightLine:
            radius = ftype.radius_m(urban)
            rows, cols, dist = coverage_pairs(demand_xy, fac_xy[mask], radius)
            out[type_id], _ = floating_catchment(rows, cols, dist, pop, supply, radius, method)
            continue
        targets = facility_points(scenario, facilities).subset(mask)
        rows, cols, travel, limit = impedance.reach_travel(ftype.urban, ftype.rural, urban, demand, targets)
        catchment = np.ones(len(demand_xy))  # each point's standard, in the unit of its travel
        catchment[rows] = limit
        out[type_id], _ = floating_catchment(rows, cols, travel, pop, supply, catchment, method)
    return out


def accessibility_by_unit(
    scenario: Scenario, before: dict[str, np.ndarray], after: dict[str, np.ndarray], membership: pd.DataFrame
) -> pd.DataFrame:
    """Population-weighted mean accessibility per admin unit and type, before and after.

    ``membership`` is the (row, unit_id) table of demand points in units at
    every level (:meth:`optimizer.region.Region.unit_membership`).
    """
    region = scenario.region
    rows = membership["row"].to_numpy()
    frames = []
    for type_id, ftype in scenario.catalogue.items():
        pop = region.group_population(ftype.serves)
        df = pd.DataFrame(
            {
                "unit_id": membership["unit_id"].to_numpy(),
                "population": pop[rows],
                "_wb": pop[rows] * before[type_id][rows],
                "_wa": pop[rows] * after[type_id][rows],
            }
        )
        agg = df.groupby("unit_id", sort=False).sum()
        safe = agg["population"].where(agg["population"] > 0, 1.0)
        agg["access_before"] = np.where(agg["population"] > 0, agg["_wb"] / safe, np.nan)
        agg["access_after"] = np.where(agg["population"] > 0, agg["_wa"] / safe, np.nan)
        agg["facility_type"] = type_id
        frames.append(agg.drop(columns=["_wb", "_wa"]).reset_index())
    out = pd.concat(frames, ignore_index=True)
    info = region.admin_units.loc[out["unit_id"], ["name", "name_en", "level"]].reset_index(drop=True)
    out = pd.concat([out[["unit_id"]], info, out.drop(columns=["unit_id"])], axis=1)
    order = {lvl: i for i, lvl in enumerate(region.levels)}
    out = out.sort_values(
        ["facility_type", "level", "unit_id"], key=lambda s: s.map(order) if s.name == "level" else s, kind="stable"
    )
    return out.reset_index(drop=True)


def _finite(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def inequality_by_type(
    scenario: Scenario, coverage: pd.DataFrame, before: dict[str, np.ndarray], after: dict[str, np.ndarray]
) -> list[dict]:
    """Per type: region-wide accessibility and the Gini/Theil of unit coverage and of accessibility.

    Unit coverage is compared over the finest admin units (those that are
    nobody's parent), each weighted by the type's population in it (rows of
    ``coverage``, i.e. :func:`optimizer.evaluate.coverage_by_unit`);
    accessibility over demand points, weighted by their population. ``None``
    where an index is undefined (no population, or a mean of 0).
    """
    region = scenario.region
    units = region.admin_units
    parents = set(units["parent_id"].dropna().astype(str))
    leaves = [u for u in units.index.astype(str) if u not in parents]
    out = []
    for type_id, ftype in scenario.catalogue.items():
        pop = region.group_population(ftype.serves)
        rows = coverage[(coverage["facility_type"] == type_id) & coverage["unit_id"].astype(str).isin(leaves)]
        cw = rows["population"].to_numpy(dtype=float)
        total = float(pop.sum())
        rec: dict = {"facility_type": type_id, "units_compared": int(len(rows))}
        for when, acc in (("before", before[type_id]), ("after", after[type_id])):
            rate = rows[f"rate_{when}"].to_numpy(dtype=float)
            rec[f"access_{when}"] = _finite(float(pop @ acc) / total) if total > 0 else None
            rec[f"gini_coverage_{when}"] = _finite(gini(rate, cw))
            rec[f"theil_coverage_{when}"] = _finite(theil(rate, cw))
            rec[f"gini_access_{when}"] = _finite(gini(acc, pop))
            rec[f"theil_access_{when}"] = _finite(theil(acc, pop))
        out.append(rec)
    return out


def accessibility_by_demand(
    scenario: Scenario, before: dict[str, np.ndarray], after: dict[str, np.ndarray]
) -> pd.DataFrame:
    """Long table: accessibility of every demand point and type, before and after."""
    region = scenario.region
    ids = region.demand.index.astype(str).to_numpy()
    unit = region.demand["unit_id"].astype(str).to_numpy()
    frames = [
        pd.DataFrame(
            {
                "demand_id": ids,
                "unit_id": unit,
                "facility_type": type_id,
                "population": region.group_population(ftype.serves),
                "access_before": before[type_id],
                "access_after": after[type_id],
            }
        )
        for type_id, ftype in scenario.catalogue.items()
    ]
    return pd.concat(frames, ignore_index=True)
