r"""Competitor (or private) facilities that capture demand, in the planning model.

The scenario's ``region.competitors`` layer (:mod:`optimizer.io.competitors`)
lists facilities the plan does not control, each with its
``facility_type`` and an ``attractiveness`` :math:`A_c > 0` (default 1).
Public facilities — existing and new — have attractiveness 1.

**Attendance** (``objective.kind: attendance``), Huff capture. With
:math:`a(d)` the objective's decay (linear, power or exponential, 0 beyond
the cutoff) and the competitors of the type

.. math::

   C_i = \sum_{c} A_c\, a(d_{ic}),

the people of demand point :math:`i` who would attend a public facility
:math:`j` (the share :math:`a_{ij} = a(d_{ij})`, as without competitors) are
split between it and the competitors in proportion to utility (Huff 1964):

.. math::

   s_{ij} = a_{ij} \cdot \frac{a_{ij}}{a_{ij} + C_i},
   \qquad
   \max \sum_i P_i \Big(b_i + \sum_j (s_{ij} - b_i)\, x_{ij}\Big),
   \quad x_{ij} \le y_j,\ \sum_j x_{ij} \le 1,

with :math:`b_i` the best :math:`s` of the existing facilities. Each demand
point compares its best public facility with the competitors (the
attendance objective already sends each demand point to one facility, its
best open one; :math:`s` increases with :math:`a`, so that is the nearest).
:math:`s_{ij}` is a constant per pair, so the model stays linear and exact:
the optimum is :math:`\max \sum_i P_i \max(b_i, \max_{j\,open} s_{ij})` over
all plans. Without competitors (:math:`C_i = 0`), :math:`s = a` and the
objective is the plain attendance. Sharing demand among *several* public
facilities as well (the full Huff share
:math:`U_i / (U_i + C_i)`, concave in the plan) is the classic model
:class:`optimizer.locate.MarketShare`, solved by outer approximation.

**Coverage** objectives (``coverage``, ``equity``, ``leximin``,
``kolm_pollak``, ``min_cost``): demand within a competitor's reach — the
type's service standard, the same test as for an existing facility — counts
as served (a constant, like demand an existing facility covers), so the plan
does not spend public money where private provision already serves; with a
capacity, those people are taken out of the public assignment. The
coverage tables of a run report public provision only; ``solution.json``
→ ``competitors`` gives, per type, the competitors and the people they serve.

Reach and travel :math:`d_{ic}` are the type's impedance
(:func:`optimizer.impedance.impedance_for`), as for the public facilities:
a straight-line or terrain-adjusted radius, network times (competitors join
the network at their nearest node), or an OD matrix, where competitors are
destinations by their ``facility_id`` and one without pairs in the matrix
is out of reach.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..impedance import Points, competitor_points
from ..impedance.straight_line import coverage_pairs
from ..solvers.options import SolveReport

if TYPE_CHECKING:
    from .model import PlanningModel, _TypeData


def competitor_targets(model: PlanningModel, type_id: str) -> tuple[Points, np.ndarray]:
    """The scenario's competitors of ``type_id`` as impedance targets, and their attractiveness (empty without)."""
    comp = model.scenario.competitors
    points = competitor_points(model.scenario)
    if comp is None or len(points) == 0:
        return points, np.empty(0)
    mine = (comp["facility_type"].astype(str) == type_id).to_numpy()
    return points.subset(mine), comp["attractiveness"].to_numpy(dtype=float)[mine]


def competitor_utility(
    model: PlanningModel, td: _TypeData, share: Callable[[np.ndarray, np.ndarray], np.ndarray], cutoff: np.ndarray
) -> np.ndarray:
    r""":math:`C_i = \sum_c A_c a(d_{ic})` per demand point: competitors' decay-weighted attractiveness.

    The straight-line form (metres); other impedances use
    :func:`competitor_utility_of_pairs` on their own travel.

    Parameters
    ----------
    model
        The planning model (demand coordinates, scenario).
    td
        The facility type's data.
    share
        The attendance decay ``share(d_m, cutoff_m)``.
    cutoff
        Each demand point's cutoff in metres.
    """
    n = len(model.demand_xy)
    targets, attract = competitor_targets(model, td.ftype.type_id)
    if len(attract) == 0:
        return np.zeros(n)
    rows, cols, dist = coverage_pairs(model.demand_xy, targets.xy, cutoff)
    return np.bincount(rows, weights=attract[cols] * share(dist, cutoff[rows]), minlength=n)


def competitor_utility_of_pairs(
    n: int, rows: np.ndarray, cols: np.ndarray, shares: np.ndarray, attract: np.ndarray
) -> np.ndarray:
    r""":math:`C_i = \sum_c A_c a_{ic}` from the (demand, competitor) pairs in reach and their decay shares.

    Parameters
    ----------
    n
        Number of demand points.
    rows, cols
        Demand point and competitor of each pair (from the type's impedance).
    shares
        The decay share :math:`a_{ic}` of each pair.
    attract
        Attractiveness per competitor.
    """
    return np.bincount(rows, weights=attract[cols] * shares, minlength=n)


def huff_capture(a: np.ndarray, competitors: np.ndarray) -> np.ndarray:
    r"""The attending share a public facility keeps against competitors: :math:`a \cdot a / (a + C)`.

    ``a`` is the public facility's decay share, ``competitors`` the
    competitors' utility :math:`C` at the same demand points. ``C = 0``
    gives ``a``; ``a = 0`` gives 0.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(a > 0, a * a / (a + competitors), 0.0)
    return out


def competitor_served(model: PlanningModel, td: _TypeData) -> np.ndarray:
    """Demand points within the type's service standard of a competitor of the type (served: a constant).

    Reach is the type's impedance (:meth:`~optimizer.impedance.Impedance.reach`), as for an existing
    facility: a straight-line radius, the matrix's pairs (a competitor without pairs reaches nobody), or
    network times.
    """
    n = len(model.demand_xy)
    targets, attract = competitor_targets(model, td.ftype.type_id)
    served = np.zeros(n, bool)
    if len(attract):
        ftype = td.ftype
        impedance = model.impedance[ftype.type_id]
        rows, _, _, _ = impedance.reach(ftype.urban, ftype.rural, model.urban, model.demand_points, targets)
        served[rows] = True
    return served


def competitors_summary(model: PlanningModel) -> dict[str, Any] | None:
    """Per type: the competitors, and the people within their reach (``None`` without a competitors layer)."""
    comp = model.scenario.competitors
    if comp is None:
        return None
    out: dict[str, Any] = {}
    for type_id, td in model.types.items():
        served = competitor_served(model, td)
        out[type_id] = {
            "competitors": int((comp["facility_type"].astype(str) == type_id).sum()),
            "population_in_reach": float(td.population[served].sum()),
        }
    return out


def with_competitors(model: PlanningModel, report: SolveReport) -> SolveReport:
    """``report`` with :func:`competitors_summary` in ``extra['competitors']`` (unchanged without competitors)."""
    summary = competitors_summary(model)
    return report if summary is None else replace(report, extra={**report.extra, "competitors": summary})
