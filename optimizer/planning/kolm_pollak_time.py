r"""Kolm-Pollak equally-distributed equivalent of travel time (a "bad"), as a linear planning objective.

``objective.kind: kolm_pollak`` with ``objective.equity.over: travel_time``.
For one facility type, with :math:`t_i` the travel minutes of demand point
:math:`i` to its nearest facility (existing or new, capped like the
``access`` objective) and :math:`p_i` its people,

.. math::

   \mathrm{EDE} = \frac1\kappa \ln \frac{\sum_i p_i e^{\kappa t_i}}{\sum_i p_i},
   \qquad \kappa = \varepsilon \, \frac{\sum_i p_i t^0_i}{\sum_i p_i (t^0_i)^2}

(Kolm 1976; Pollak 1971; Horton, Murrell, Skipper, Speakman & Logan 2024,
"A Scalable Approach to Equitable Facility Location", arXiv:2401.15452),
:math:`\varepsilon` = ``equity.time_aversion`` (their :math:`-\epsilon`,
unit-free) and :math:`t^0` the times before the plan (Horton et al.'s
scaling of :math:`\kappa` by the data, estimated here on the existing
facilities). The logarithm is increasing, so minimising the EDE is
minimising :math:`\sum_i p_i e^{\kappa t_i}`, and since
:math:`e^{\kappa t_{ij}}` is a constant per (demand, site) pair this is a
linear assignment objective — the access model with :math:`t` replaced by
:math:`c(t) = \frac1\kappa e^{\kappa (t - E_0)}`:

.. math::

   \min \sum_k w_k \Big[ \sum_i p_{ik} c_k(t^0_{ik})
        - \sum_{ij} p_{ik} \big(c_k(t^0_{ik}) - c_k(t_{ijk})\big) x_{ijk} \Big]
   \quad x_{ijk} \le y_{kj},\ \sum_j x_{ijk} \le 1

with only the pairs closer than the existing facilities. :math:`E_0` is the
type's EDE before the plan: it only scales the term (no change of
minimiser), so that near the baseline one unit is one person-minute, which
keeps several types (weights ``objective.weights``) and the soft-standard
penalties on a common footing. With one type the optimum is exactly the
minimum EDE over all plans.

Minutes are the impedance's own where it has them: fastest-route minutes
on a road network, the ``minutes`` column of an OD matrix
(:func:`kp_time_pairs`; a pair absent from the matrix is out of reach). On
a straight line (and an OD matrix with km only) they come from the
distances of the access pairs at the speed of the type's own standard
where it is in minutes (urban or rural by demand point, with its detour
factor on a straight line), else at ``equity.speed_kmh``; on the terrain
impedance from its terrain-adjusted km, slowed by the point's terrain speed
where the standard is in minutes. Times are capped at the access cap taken
at that speed.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pulp

from ..impedance import Impedance, StraightLine, TerrainImpedance
from ..solvers.options import SolveReport
from .access import _access_terms

if TYPE_CHECKING:
    from ..config.schema import ServiceStandard
    from ..scenario import Scenario
    from .model import PlanningModel, _TypeData


def kp_over_time(scenario: Scenario) -> bool:
    """Whether the scenario's objective is the Kolm-Pollak EDE of travel time."""
    obj = scenario.objective
    return obj.kind == "kolm_pollak" and obj.equity.over == "travel_time"


def kolm_pollak_ede(times: np.ndarray, weights: np.ndarray, kappa: float) -> float:
    r"""Kolm-Pollak EDE of a bad: :math:`\frac1\kappa \ln(\sum w e^{\kappa t} / \sum w)`, computed stably.

    Parameters
    ----------
    times
        The outcome per person group (e.g. travel minutes).
    weights
        People per group (non-negative; groups with 0 are ignored).
    kappa
        Aversion to inequality, per unit of ``times`` (> 0).

    Returns
    -------
    float
        The EDE, in the unit of ``times`` (NaN when nobody has weight).
    """
    keep = weights > 0
    if not keep.any():
        return math.nan
    t, w = times[keep], weights[keep]
    top = float(t.max())
    return top + math.log(float(w @ np.exp(kappa * (t - top))) / float(w.sum())) / kappa


def time_kappa(baseline_minutes: np.ndarray, people: np.ndarray, aversion: float) -> float:
    """Horton et al.'s data-scaled aversion: ``aversion · Σ p t0 / Σ p t0²`` per minute (``aversion`` if t0 ≡ 0)."""
    second = float(people @ baseline_minutes**2)
    return aversion * float(people @ baseline_minutes) / second if second > 0 else aversion


def _kp_info(model: PlanningModel) -> dict[str, dict[str, Any]]:
    """Per type, what the report needs (κ, the EDE before, minutes per metre), kept on the model by the build."""
    info: dict[str, dict[str, Any]] = model.__dict__.setdefault("kp_time", {})
    return info


def route_minutes(impedance: Impedance) -> bool:
    """Whether the impedance has travel minutes of its own (a road network, an OD matrix with minutes)."""
    return not isinstance(impedance, StraightLine) and impedance.has_minutes


def _speed_minutes_per_metre(model: PlanningModel, td: _TypeData, impedance: Impedance) -> np.ndarray:
    """Minutes per metre at the type's standard speed (``equity.speed_kmh`` for km standards), per demand point.

    On a straight line with the standard's detour factor; on the terrain
    impedance (whose km carry the terrain detour already) also slowed by the
    point's terrain speed where the standard is in minutes, as its minutes
    are (:meth:`~optimizer.impedance.TerrainImpedance.reach`).
    """
    speed_default = model.scenario.objective.equity.speed_kmh
    straight = isinstance(impedance, StraightLine)

    def per_metre(std: ServiceStandard) -> float:
        speed = std.speed_kmh or speed_default
        detour = std.detour_factor if straight else 1.0
        return detour * 60.0 / (speed * 1000.0)

    per_m = np.where(model.urban, per_metre(td.ftype.urban), per_metre(td.ftype.rural))
    if isinstance(impedance, TerrainImpedance):
        in_minutes = np.where(model.urban, td.ftype.urban.minutes is not None, td.ftype.rural.minutes is not None)
        per_m = per_m / np.where(in_minutes, impedance.factors_for(model.demand_points)[1], 1.0)
    return per_m


def _minutes_per_metre(model: PlanningModel, td: _TypeData) -> np.ndarray:
    """Travel minutes per unit of each demand point's access pairs for type ``td`` (1 where they are minutes)."""
    impedance = model.impedance[td.ftype.type_id]
    if route_minutes(impedance):  # kp_time_pairs() stored minutes
        return np.ones(len(model.urban))
    return _speed_minutes_per_metre(model, td, impedance)


def kp_time_pairs(model: PlanningModel, td: _TypeData, impedance: Impedance) -> None:
    """Access pairs of one type in the impedance's own minutes (network times, the matrix's minutes column).

    ``td.baseline`` is the minutes to the quickest existing facility, capped
    at the access cap (``access_cap_km``, else 3 × the rural standard) taken
    at the type's speed; ``td.dist`` the minutes of each pair quicker than
    that, as the ``access`` objective keeps its km pairs.
    """
    sc = model.scenario
    ftype = td.ftype
    cap_m = (sc.objective.access_cap_km * 1000.0) if sc.objective.access_cap_km else 3.0 * ftype.rural.radius_m()
    cap_minutes = cap_m * _speed_minutes_per_metre(model, td, impedance)
    quickest = impedance.nearest_minutes(model.demand_points, model.fac_points.subset(td.existing))
    td.baseline = np.minimum(quickest, cap_minutes)
    rows, cols, minutes, _ = impedance.pairs(model.demand_points, model.site_points.subset(td.sites), td.baseline)
    keep = (minutes < td.baseline[rows]) & (td.population[rows] > 0)
    td.rows, td.cols, td.dist = rows[keep], cols[keep], minutes[keep]


def _kp_time_terms(
    model: PlanningModel, prob: pulp.LpProblem, ki: int, type_id: str, td: _TypeData
) -> tuple[pulp.LpAffineExpression, float]:
    """One type's term ``Σ_i p_i c(t_i)`` (see the module docstring), built as an access objective on ``c``."""
    assert td.baseline is not None  # prepare() computes the access pairs for this objective
    per_m = _minutes_per_metre(model, td)
    t0 = td.baseline * per_m
    t = td.dist * per_m[td.rows]
    pop = td.population
    kappa = time_kappa(t0, pop, model.scenario.objective.equity.time_aversion)
    e0 = kolm_pollak_ede(t0, pop, kappa)
    e0 = 0.0 if math.isnan(e0) else e0
    _kp_info(model)[type_id] = {"kappa": kappa, "ede0": e0, "per_m": per_m}

    def c(minutes: np.ndarray) -> np.ndarray:
        return np.exp(kappa * (minutes - e0)) / kappa

    # _access_terms reads metres: baseline and pair "distances" in thousandths of c.
    scaled = replace(td, baseline=1000.0 * c(t0), dist=1000.0 * c(t))
    return _access_terms(model, prob, ki, type_id, scaled)


def _plan_minutes(model: PlanningModel, type_id: str) -> tuple[np.ndarray, np.ndarray]:
    """Travel minutes per demand point of type ``type_id`` before and after the solved plan."""
    td = model.types[type_id]
    assert td.baseline is not None
    per_m = _kp_info(model)[type_id]["per_m"]
    before = td.baseline * per_m
    after = before.copy()
    ys = model.y[type_id]
    open_pair = np.array([(ys[c].varValue or 0.0) > 0.5 for c in td.cols.tolist()], dtype=bool)
    if open_pair.any():
        np.minimum.at(after, td.rows[open_pair], td.dist[open_pair] * per_m[td.rows[open_pair]])
    return before, after


def kp_time_report(model: PlanningModel, report: SolveReport) -> SolveReport:
    """``report`` with each type's EDE and mean travel minutes before and after the plan (``extra['kolm_pollak']``)."""
    if not report.has_solution:
        return report
    by_type: dict[str, dict[str, Any]] = {}
    for type_id, info in _kp_info(model).items():
        before, after = _plan_minutes(model, type_id)
        pop = model.types[type_id].population
        total = float(pop.sum())
        by_type[type_id] = {
            "kappa_per_minute": info["kappa"],
            "ede_before_min": kolm_pollak_ede(before, pop, info["kappa"]),
            "ede_after_min": kolm_pollak_ede(after, pop, info["kappa"]),
            "mean_before_min": float(pop @ before) / total if total else math.nan,
            "mean_after_min": float(pop @ after) / total if total else math.nan,
        }
    extra = dict(report.extra)
    extra["kolm_pollak"] = {
        "over": "travel_time",
        "aversion": model.scenario.objective.equity.time_aversion,
        "by_type": by_type,
    }
    return replace(report, extra=extra)
