"""Solver options, statuses and the report every solve returns."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Literal

import pulp

from ..errors import SolverError, SolverNotAvailableError

SolverName = Literal["highs", "cbc"]
STATUSES = ("optimal", "feasible", "infeasible", "unbounded", "no_solution", "error")


@dataclass(frozen=True)
class SolverOptions:
    """How to solve.

    Parameters
    ----------
    name
        ``"highs"`` (HiGHS through highspy, the default) or ``"cbc"`` (the CBC
        binary bundled with PuLP).
    time_limit
        Seconds of wall time; ``None`` for no limit.
    mip_gap
        Relative MIP gap at which the solver may stop and call the plan
        optimal. ``0`` demands a proof of exact optimality.
    threads
        Solver threads; ``None`` lets the solver choose.
    msg
        Echo the solver log to the terminal.
    """

    name: SolverName = "highs"
    time_limit: float | None = None
    mip_gap: float = 0.0
    threads: int | None = None
    msg: bool = False

    def __post_init__(self) -> None:
        if self.name not in ("highs", "cbc"):
            raise SolverNotAvailableError(
                f"unknown solver {self.name!r}",
                field="solver.name",
                hint="use 'highs' (default) or 'cbc'.",
            )
        if self.time_limit is not None and not self.time_limit > 0:
            raise SolverError(
                f"time limit must be positive, got {self.time_limit!r}",
                field="solver.time_limit",
                hint="give a positive number of seconds, or None for no limit",
            )
        if not 0 <= self.mip_gap < 1:
            raise SolverError(
                f"MIP gap must be in [0, 1), got {self.mip_gap!r}",
                field="solver.mip_gap",
                hint="give a relative gap such as 0.01 (1 %), or 0 for a proof of optimality",
            )


@dataclass
class SolveReport:
    """What the solver proved about a model.

    ``objective`` is the value of the plan found (``None`` without a plan),
    ``bound`` the best proven bound on the optimum, ``gap`` the relative
    distance between them (``0`` when optimal, ``None`` when unknown).
    """

    status: str
    objective: float | None
    bound: float | None
    gap: float | None
    seconds: float
    solver: str
    solver_version: str
    message: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def is_optimal(self) -> bool:
        return self.status == "optimal"

    @property
    def has_solution(self) -> bool:
        return self.status in ("optimal", "feasible")

    def to_dict(self) -> dict:
        return asdict(self)


def relative_gap(objective: float | None, bound: float | None) -> float | None:
    """``|objective - bound| / max(|objective|, 1)``, HiGHS' convention."""
    if objective is None or bound is None or not math.isfinite(objective) or not math.isfinite(bound):
        return None
    return abs(objective - bound) / max(abs(objective), 1.0)


def _is_mip(problem: pulp.LpProblem) -> bool:
    return any(v.cat == pulp.LpInteger for v in problem.variables())
