"""."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import pulp

from ..solvers.options import SolveReport, SolverOptions, relative_gap
from ..solvers.pulp_path import solve_problem

if TYPE_CHECKING:
    from .model import PlanningModel


def _rates(rate_exprs: dict) -> dict:
    """Each compared unit's coverage rate in the current solution."""
    return {k: float(pulp.value(e) or 0.0) / d for k, (e, d) in rate_exprs.items()}


def _solve_leximin(model: PlanningModel, options: SolverOptions, stages: list[SolveReport]) -> SolveReport:
    r"""Lexicographic max-min of the compared units' rates (Ogryczak & Śliwiński 2006), then coverage.

    Stage :math:`k = 1 … K` maximises the sum of the :math:`k` smallest
    rates, :math:`\theta_k = k t_k - \sum_u d_{uk}` with
    :math:`d_{uk} \ge t_k - r_u,\ d_{uk} \ge 0` (the ordered-outcome LP
    form, exact for any plan), and then holds
    :math:`\theta_k \ge \theta_k^* - \text{tolerance}`. Maximising every
    cumulative sum in turn is leximin: the worst rate first, then the
    second worst, … over all compared units. A last stage maximises the
    ``coverage`` objective with all of them held. :math:`K` + 1 MIP solves.
    """
    prob = model.problem
    tol = model.scenario.objective.equity.tolerance
    keys = list(model._rate_exprs)
    last: SolveReport | None = None
    values: dict[str, float | None] = {}
    proven = True
    for k in range(1, len(keys) + 1):
        t = pulp.LpVariable(f"lex_t_{k}", lowBound=0, upBound=1)
        d = {u: pulp.LpVariable(f"lex_d_{k}_{u}", lowBound=0) for u in keys}
        for u in keys:
            e, den = model._rate_exprs[u]
            prob += (e * (1.0 / den) - t + d[u] >= 0, f"lex_{k}_{u}")
        theta = k * t - pulp.lpSum(d.values())
        prob.setObjective(theta)
        report = solve_problem(prob, options)
        stages.append(report)
        if not report.has_solution:
            break
        proven &= report.is_optimal
        last, values = report, {v.name: v.varValue for v in prob.variables()}
        prob += (theta >= float(pulp.value(theta)) - tol, f"lex_hold_{k}")
        if float(pulp.value(t)) >= 1.0 - tol:
            break  # the k smallest rates are all 1: so are the rest
    prob.setObjective(model.main_objective)
    final = solve_problem(prob, options) if last is not None else stages[-1]
    if last is not None:
        stages.append(final)
        if final.status == "no_solution":
            final = model._keep_stage1_plan(values, final, options)
    if last is None:
        return final
    status = final.status if proven else ("feasible" if final.has_solution else final.status)
    return SolveReport(
        status=status,
        objective=final.objective,
        bound=final.bound,
        gap=final.gap,
        seconds=sum(st.seconds for st in stages),
        solver=final.solver,
        solver_version=final.solver_version,
        message=f"leximin: {len(stages) - 1} max-min stage(s) "
        f"{'all optimal' if proven else 'not all proven'}; coverage stage: {final.message}",
        extra={"stages": [st.to_dict() for st in stages]},
    )


def _solve_kolm_pollak(
    model: PlanningModel, options: SolverOptions, stages: list[SolveReport], max_iterations: int = 50
) -> SolveReport:
    r"""Maximise the Kolm-Pollak equally-distributed equivalent of the compared units' rates.

    :math:`\mathrm{EDE} = -\frac1\kappa \ln \frac{\sum_u w_u e^{-\kappa r_u}}{\sum_u w_u}`
    (Kolm 1976; Pollak 1971; Horton et al. 2024), :math:`w_u` the unit's
    weighted population, :math:`\kappa` = ``equity.aversion``. Maximising
    it is minimising the convex :math:`\sum_u w_u e^{-\kappa r_u}`, solved
    exactly by outer approximation on :math:`s_u = e^{\kappa (1 - r_u)}`
    (the same minimiser, better scaled for the solver's tolerances):
    :math:`s_u \ge e^{\kappa (1 - \bar r)} (1 - \kappa (r_u - \bar r))` at 11 rates :math:`\bar r = 0, 0.1, …, 1`,
    then at each plan's rates, until the MIP's bound and the plan's true
    value agree within ``equity.tolerance`` (relative). Objective: maximise
    :math:`-\sum_u w_u s_u` − penalties − the cost tie-break (people
    units, like ``coverage``); the gap is measured on that sum. The
    reported objective is the EDE rate of the plan.
    """
    prob = model.problem
    eq = model.scenario.objective.equity
    kappa = float(eq.aversion)
    keys = list(model._rate_exprs)
    w = {u: model._rate_exprs[u][1] for u in keys}
    total = float(sum(w.values())) or 1.0
    # s_u stands for e^{κ(1 - r_u)} in [1, e^κ]: the same minimiser as Σ w e^{-κ r} (a constant factor
    # e^κ), but values the solver's absolute tolerances can resolve even for a large κ.
    s = {u: pulp.LpVariable(f"kp_s_{u}", lowBound=1, upBound=math.exp(kappa)) for u in keys}
    ncut = [0]

    def cut(u: int, rbar: float) -> None:
        e, den = model._rate_exprs[u]
        g = math.exp(kappa * (1.0 - rbar))
        prob.addConstraint(
            pulp.LpConstraint(s[u] + e * (kappa * g / den), pulp.LpConstraintGE, rhs=g * (1 + kappa * rbar)),
            name=f"kp_{ncut[0]}",
        )
        ncut[0] += 1

    for u in keys:
        for rbar in np.linspace(0.0, 1.0, 11):
            cut(u, float(rbar))
    prob.setObjective(-pulp.lpSum(w[u] * s[u] for u in keys) - model._penalty_and_tiebreak)
    # Converge on G = Σ_u w_u e^{-κ r_u} + penalties + tie-break, what the MIP minimises
    # (its bound is a lower bound on G); the plan kept is the one with the smallest true G.
    best: tuple[float, float, dict] | None = None
    lower = -math.inf
    report: SolveReport | None = None
    for _ in range(max_iterations):
        report = solve_problem(prob, options)
        stages.append(report)
        if not report.has_solution:
            break
        rates = _rates(model._rate_exprs)
        f_true = sum(w[u] * math.exp(kappa * (1.0 - rates[u])) for u in keys) / total
        g_true = total * f_true + float(pulp.value(model._penalty_and_tiebreak) or 0.0)
        if best is None or g_true < best[0]:
            best = (g_true, f_true, {v.name: v.varValue for v in prob.variables()})
        if report.bound is not None:
            lower = max(lower, -float(report.bound))
        if not report.is_optimal:
            break
        if best[0] - lower <= eq.tolerance * max(abs(best[0]), 1.0):
            break
        for u in keys:
            if float(s[u].varValue or 0.0) < math.exp(kappa * (1.0 - rates[u])) * (1 - 1e-9) - 1e-9:
                cut(u, rates[u])
    assert report is not None  # max_iterations >= 1: the loop solved at least once
    if best is None:
        return report
    for v in prob.variables():
        if v.name in best[2]:
            v.varValue = best[2][v.name]
    ede = 1.0 - math.log(best[1]) / kappa
    gap = relative_gap(best[0], lower if math.isfinite(lower) else None)
    optimal = report.is_optimal and gap is not None and gap <= max(eq.tolerance, 1e-9)
    return SolveReport(
        status="optimal" if optimal else "feasible",
        objective=ede,
        bound=ede if optimal else None,
        gap=0.0 if optimal else gap,
        seconds=sum(st.seconds for st in stages),
        solver=report.solver,
        solver_version=report.solver_version,
        message=f"Kolm-Pollak EDE by outer approximation: {len(stages)} MIP(s); last: {report.message}",
        extra={
            "kolm_pollak": {
                "aversion": kappa,
                "ede": ede,
                "cuts": ncut[0],
                "weighted_sum": best[0],
                "lower_bound": lower,
            }
        },
    )


def _stage1_kept(report: SolveReport, value: float | None) -> SolveReport:
    """``report`` as ``feasible`` with the objective ``value`` of the kept stage-1 plan and its gap to the bound."""
    return replace(
        report,
        status="feasible",
        objective=value,
        gap=relative_gap(value, report.bound),
        message=f"{report.message}; no plan found in stage 2, the stage-1 plan is kept",
    )


def _combine(first: SolveReport, second: SolveReport) -> SolveReport:
    """Status of a lexicographic solve: optimal only if both stages are."""
    status = "optimal" if first.is_optimal and second.is_optimal else second.status
    if status == "optimal" and not first.is_optimal:
        status = "feasible"
    extra = {"stage1": first.to_dict(), "stage2": second.to_dict()}
    return SolveReport(
        status=status,
        objective=second.objective,
        bound=second.bound,
        # A stage 2 stopped without a bound has no known gap, whatever stage 1's is.
        gap=None
        if second.gap is None and not second.is_optimal
        else (second.gap if first.gap is None else max(second.gap or 0.0, first.gap)),
        seconds=first.seconds + second.seconds,
        solver=second.solver,
        solver_version=second.solver_version,
        message=f"stage 1 (max-min rate): {first.message}; stage 2 (coverage): {second.message}",
        extra=extra,
    )
