"""The build decisions of a phased plan, per candidate site, type and period.

Split from :mod:`optimizer.planning.phased` (one job: the site variables and
the rows that tie a site's periods together).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pulp

if TYPE_CHECKING:  # pragma: no cover - annotations only (phased.py imports this module)
    from .phased import PhasedPlanningModel

__all__ = ["site_decisions"]


def site_decisions(model: PhasedPlanningModel, prob: pulp.LpProblem) -> dict[str, list[list[pulp.LpVariable]]]:
    """Per type and eligible site, one binary per period, with the rows that link them.

    Cumulative (``model.cumulative``): ``y[t]`` = open by period ``t``, ``y[t−1] ≤ y[t]``,
    ``y[T] = 1`` at a required site. Otherwise ``x[t]`` = built in period ``t``,
    ``Σ_t x[t] ≤ 1`` (``= 1`` at a required site). Sites outside ``model.only_sites``
    and dominated sites (``model.dropped``) get upper bound 0.
    """
    base = model.base
    T = len(model.phases)
    required = {(r.site_id, r.facility_type) for r in model.scenario.sites.required}
    out: dict[str, list[list[pulp.LpVariable]]] = {}
    for ki, (type_id, td) in enumerate(base.types.items()):
        per_site = []
        dropped = model.dropped.get(type_id, set())
        for j in td.sites.tolist():
            allowed = (model.only_sites is None or (j, type_id) in model.only_sites) and j not in dropped
            must = (base.site_ids[j], type_id) in required
            if model.cumulative:
                xs = [pulp.LpVariable(f"y_{ki}_{j}_{t}", 0, int(allowed), cat=pulp.LpInteger) for t in range(T)]
                for t in range(1, T):
                    prob += (xs[t - 1] - xs[t] <= 0, f"stays_open_{ki}_{j}_{t}")
                if must:
                    prob += (xs[-1] == 1, f"required_{ki}_{j}")
            else:
                xs = [pulp.LpVariable(f"x_{ki}_{j}_{t}", 0, int(allowed), cat=pulp.LpInteger) for t in range(T)]
                once = pulp.LpAffineExpression([(v, 1.0) for v in xs])
                if must:
                    prob += (once == 1, f"required_{ki}_{j}")
                elif T > 1:
                    prob += (once <= 1, f"once_{ki}_{j}")
            per_site.append(xs)
        out[type_id] = per_site
    return out
