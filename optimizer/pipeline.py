"""One planning run end to end: scenario file → validated scenario → model → plan → files.

This is the Python API behind ``regionopt run`` and ``regionopt validate``;
the command line only parses arguments and prints progress.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .errors import ConfigError
from .scenario import Scenario, load_scenario

__all__ = ["default_config_path", "run", "validate", "RunOutcome", "Progress"]

Progress = Callable[[str, float | None], None]
"""``progress(stage, seconds)``: called with ``None`` when a stage starts and its duration when it ends."""

DEFAULT_CONFIG = "configs/zhejiang.yaml"


def default_config_path() -> Path:
    """The shipped Zhejiang scenario: ``configs/zhejiang.yaml`` here, else beside the package."""
    here = Path(DEFAULT_CONFIG)
    if here.is_file():
        return here
    beside_package = Path(__file__).resolve().parent.parent / DEFAULT_CONFIG
    if beside_package.is_file():
        return beside_package
    raise ConfigError(
        "no scenario given and the default configs/zhejiang.yaml was not found",
        hint="pass a scenario file: regionopt run path/to/scenario.yaml",
    )


def _quiet(stage: str, seconds: float | None) -> None:
    pass


class _Stage:
    def __init__(self, name: str, progress: Progress, timings: dict[str, float]):
        self.name, self.progress, self.timings = name, progress, timings

    def __enter__(self):
        self.t0 = time.perf_counter()
        self.progress(self.name, None)
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            dt = time.perf_counter() - self.t0
            self.timings[self.name] = dt
            self.progress(self.name, dt)
        return False


@dataclass
class RunOutcome:
    """What a run produced: the plan, where it was written, stage timings."""

    result: object
    out_dir: Path | None
    timings: dict[str, float] = field(default_factory=dict)
    phased: object | None = None  # the PhasedResult of a scenario with periods: (result = its end-of-horizon plan)


def _scenario(config: str | Path | Scenario | None, progress: Progress, timings: dict) -> Scenario:
    if isinstance(config, Scenario):
        scenario = config
    else:
        path = Path(config) if config is not None else default_config_path()
        with _Stage("load", progress, timings):
            scenario = load_scenario(path)
    _check_solver(scenario)
    return scenario


def _check_solver(scenario: Scenario) -> None:
    """A requested solver that is not installed is reported before any model is built."""
    from .config import config_line
    from .errors import SolverNotAvailableError
    from .solvers import check_solver_available

    try:
        check_solver_available(scenario.solver.name)
    except SolverNotAvailableError as err:
        err.file = scenario.source_path
        err.row = config_line(scenario.config, "solver", "name")
        raise


def validate(config: str | Path | Scenario | None = None, *, progress: Progress = _quiet) -> dict:
    """Check a scenario completely without solving.

    Loads and validates the scenario and its region files, computes the
    coverage pairs, estimates the model size against the memory limit, and
    checks that hard standards have sites to meet them. Returns a summary.
    """
    from .model import PlanningModel

    timings: dict[str, float] = {}
    scenario = _scenario(config, progress, timings)
    model = PlanningModel(scenario)
    with _Stage("coverage", progress, timings):
        model.prepare()
        model._check_memory()
    with _Stage("build", progress, timings):
        model.build()
    model.check_hard_standards()
    if getattr(scenario.config, "periods", None) is not None:
        from .phased import PhasedPlanningModel

        PhasedPlanningModel(scenario).prepare()  # periods, closures, deadlines and the projection
    summary = scenario.summary()
    summary["model_size"] = model.size.to_dict()
    summary["timings"] = timings
    return summary


def run(
    config: str | Path | Scenario | None = None,
    *,
    out_dir: str | Path | None = None,
    write: bool = True,
    maps: bool | None = None,
    report: bool | None = None,
    progress: Progress = _quiet,
) -> RunOutcome:
    """Solve a scenario and (by default) write its outputs.

    Parameters
    ----------
    config
        Scenario file, an assembled :class:`Scenario`, or ``None`` for the
        shipped Zhejiang default.
    out_dir
        Output folder; default ``outputs.dir`` of the scenario, else
        ``reports/<scenario name>``.
    write
        Write files (``False``: only return the result).
    """
    from .model import PlanningModel
    from .output import check_output_dir, default_output_dir, input_files

    timings: dict[str, float] = {}
    scenario = _scenario(config, progress, timings)
    target = None
    if write:
        # Refuse a bad output folder before spending time on the solve.
        target = check_output_dir(
            Path(out_dir) if out_dir else default_output_dir(scenario), input_files(scenario), replace=True
        )
    if getattr(scenario.config, "periods", None) is not None:
        return _run_phased(scenario, target, write=write, maps=maps, report=report, progress=progress, timings=timings)
    model = PlanningModel(scenario)
    with _Stage("coverage", progress, timings):
        model.prepare()
    with _Stage("build", progress, timings):
        model.build()
    with _Stage("solve", progress, timings):
        result = model.solve()
    for stage, seconds in timings.items():  # keep the model's own finer timings (solve vs evaluate)
        result.timings.setdefault(stage, seconds)
    written = None
    if write:
        with _Stage("write", progress, timings):
            written = result.write(target, maps=maps, report=report)
    return RunOutcome(result=result, out_dir=written, timings=timings)


def _run_phased(scenario: Scenario, target: Path | None, *, write: bool, maps: bool | None, report: bool | None,
                progress: Progress, timings: dict[str, float]) -> RunOutcome:
    """A scenario with ``periods:``: the phased plan, its end-of-horizon maps and report, and its timeline files."""
    from .phased import PhasedPlanningModel, end_of_horizon_plan

    model = PhasedPlanningModel(scenario)
    with _Stage("coverage", progress, timings):
        model.prepare()
    with _Stage("build", progress, timings):
        model.build()
    with _Stage("solve", progress, timings):
        phased = model.solve()
    with _Stage("evaluate", progress, timings):
        result = end_of_horizon_plan(model, phased)
    for stage, seconds in timings.items():
        result.timings.setdefault(stage, seconds)
    written = None
    if write:
        with _Stage("write", progress, timings):
            written = result.write(target, maps=maps, report=report)
            phased.write(written)
    return RunOutcome(result=result, out_dir=written, timings=timings, phased=phased)
