"""Solve a PuLP model with HiGHS or CBC and report the outcome honestly.

PuLP's own status codes blur the line between "proven optimal" and "stopped
with a solution": a CBC run that hits its time limit comes back as
``LpStatusOptimal``. :func:`solve_problem` looks past that, reads the solver's
own status and best bound, and returns a :class:`SolveReport` whose
``status`` is one of

``optimal``      proven optimal within the requested MIP gap;
``feasible``     a plan exists but optimality is not proven (time limit) —
                 ``gap`` says how far from proven it is;
``infeasible``   no plan satisfies the constraints;
``unbounded``    the objective is unbounded (a modelling error);
``no_solution``  the solver stopped before finding any plan;
``error``        the solver failed.
"""

from __future__ import annotations

import pulp

from .cbc import _solve_cbc
from .highs import _solve_highs
from .options import SolveReport, SolverOptions


def solve_problem(problem: pulp.LpProblem, options: SolverOptions | None = None) -> SolveReport:
    """Solve ``problem`` in place and report what was proven.

    Variable values are set on the problem's variables as usual in PuLP.

    Raises
    ------
    SolverNotAvailableError
        If the requested solver is not installed.
    """
    options = options or SolverOptions()
    if options.name == "highs":
        return _solve_highs(problem, options)
    return _solve_cbc(problem, options)
