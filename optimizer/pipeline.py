"""One planning run end to end: scenario file → validated scenario → model → plan → files.

This is the Python API behind ``regionopt run`` and ``regionopt validate``;
the command line only parses arguments and prints progress.
"""

from __future__ import annotations

import importlib.resources
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Literal

from .config.reader import config_line
from .errors import ConfigError, OutputError, SolverNotAvailableError
from .planning.model import PlanningModel
from .planning.phased import PhasedPlanningModel, end_of_horizon_plan
from .results.write import check_output_dir, default_output_dir, input_files
from .scenario import Scenario, load_scenario
from .solvers.versions import check_solver_available

if TYPE_CHECKING:  # pragma: no cover
    from .results.phased import PhasedResult
    from .results.plan import PlanResult

__all__ = ["default_config_path", "init_folder", "shipped_data_dir", "run", "validate", "RunOutcome", "Progress"]

Progress = Callable[[str, float | None], None]
"""``progress(stage, seconds)``: called with ``None`` when a stage starts and its duration when it ends."""

DEFAULT_CONFIG = "configs/zhejiang.yaml"

#: Where the shipped default sits inside the installed package (see pyproject.toml:
#: configs/ and geodata/zhejiang/ of the repository are mapped there as package data).
PACKAGE_DATA = "data"

#: Files ``regionopt init`` copies, relative to the shipped data folder.
INIT_CONFIGS = (
    "configs/zhejiang.yaml",
    "configs/catalogue.yaml",
    "configs/culture-gap.yaml",
    "configs/health-education-equity.yaml",
)
INIT_GEODATA = (
    "geodata/zhejiang/zhejiang.gpkg",
    "geodata/zhejiang/build_info.json",
    "geodata/zhejiang/etopo5_zhejiang.npz",
    "geodata/zhejiang/relief_info.json",
)
#: The region path the shipped scenarios use (relative to configs/).
SHIPPED_GPKG_REF = "../geodata/zhejiang/zhejiang.gpkg"
#: The relief grid of the default's terrain impedance (relative to configs/).
SHIPPED_RELIEF_REF = "../geodata/zhejiang/etopo5_zhejiang.npz"


def shipped_data_dir() -> Path | None:
    """Folder holding the shipped ``configs/`` and ``geodata/`` (``None`` if absent).

    An installed wheel has them as package data (``optimizer/data``, read with
    :mod:`importlib.resources`); a git checkout (also an editable install) has
    them beside the package, at the top of the repository.
    """
    packaged = importlib.resources.files("optimizer").joinpath(PACKAGE_DATA)
    # A wheel installs into a folder, so the package data are real files the
    # region readers (GDAL) can open; a zipped package would not be.
    if isinstance(packaged, Path) and (packaged / DEFAULT_CONFIG).is_file():
        return packaged
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / DEFAULT_CONFIG).is_file():
        return checkout
    return None


def default_config_path() -> Path:
    """The shipped Zhejiang scenario: from the installed package, else from the git checkout."""
    root = shipped_data_dir()
    if root is None:
        raise ConfigError(
            "no scenario given and the default configs/zhejiang.yaml was not found",
            hint="pass a scenario file: regionopt run path/to/scenario.yaml",
        )
    return root / DEFAULT_CONFIG


def init_folder(dest: str | Path, *, copy_data: bool = True) -> list[Path]:
    """Copy the shipped scenarios and catalogue into ``dest`` as a starting point.

    Parameters
    ----------
    dest
        Target folder (created if missing). Files already there are never
        overwritten: any clash is refused before anything is copied.
    copy_data
        ``True`` (default): copy the Zhejiang GeoPackage too
        (``dest/geodata/zhejiang/``), so the scenarios' relative paths resolve
        unchanged and the folder is self-contained (5.5 MB; edit the layers
        freely). ``False``: point the scenarios' region paths at the
        GeoPackage inside the installed package instead (absolute paths:
        re-run ``init`` after moving the installation).

    Returns
    -------
    list of Path
        The files written.
    """
    root = default_config_path().parent.parent
    target = Path(dest).expanduser()
    for path in (target, *target.parents):
        if path.exists():
            if not path.is_dir():
                raise OutputError(
                    "init folder exists and is not a folder",
                    file=path,
                    hint="choose another folder: regionopt init DIR",
                )
            break
    names = list(INIT_CONFIGS) + (list(INIT_GEODATA) if copy_data else [])
    clashes = [n for n in names if (target / n).exists()]
    if clashes:
        more = f" and {len(clashes) - 1} more" if len(clashes) > 1 else ""
        raise OutputError(
            f"init folder already holds {clashes[0]}{more}; init never overwrites files",
            file=target,
            hint="choose a new or empty folder: regionopt init DIR",
        )
    gpkg = (root / "configs" / SHIPPED_GPKG_REF).resolve()
    relief = (root / "configs" / SHIPPED_RELIEF_REF).resolve()
    written = []
    for name in names:
        out = target / name
        out.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith(".yaml") and not copy_data:
            # A text edit keeps the comments; a JSON string is a valid YAML scalar.
            text = (root / name).read_text(encoding="utf-8")
            text = text.replace(SHIPPED_GPKG_REF, json.dumps(gpkg.as_posix()))
            out.write_text(text.replace(SHIPPED_RELIEF_REF, json.dumps(relief.as_posix())), encoding="utf-8")
        else:
            shutil.copyfile(root / name, out)
        written.append(out)
    return written


def _quiet(stage: str, seconds: float | None) -> None:
    pass


class _Stage:
    def __init__(self, name: str, progress: Progress, timings: dict[str, float]):
        self.name, self.progress, self.timings = name, progress, timings

    def __enter__(self) -> _Stage:
        self.t0 = time.perf_counter()
        self.progress(self.name, None)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Literal[False]:
        if exc_type is None:
            dt = time.perf_counter() - self.t0
            self.timings[self.name] = dt
            self.progress(self.name, dt)
        return False


@dataclass
class RunOutcome:
    """What a run produced: the plan, where it was written, stage timings."""

    result: PlanResult
    out_dir: Path | None
    timings: dict[str, float] = field(default_factory=dict)
    # The PhasedResult of a scenario with periods (result = its end-of-horizon plan).
    phased: PhasedResult | None = None


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

    try:
        check_solver_available(scenario.solver.name)
    except SolverNotAvailableError as err:
        err.file = scenario.source_path
        err.row = config_line(scenario.config, "solver", "name")
        raise


def validate(
    config: str | Path | Scenario | None = None, *, progress: Progress = _quiet, details: bool = False
) -> dict:
    """Check a scenario completely without solving.

    Loads and validates the scenario and its region files, computes the
    coverage pairs, estimates the model size against the memory limit, and
    checks that hard standards have sites to meet them. Returns a summary.
    ``details``: a diagnosis of unmeetable hard standards lists every
    standard instead of a summary capped at ten lines.
    """

    timings: dict[str, float] = {}
    scenario = _scenario(config, progress, timings)
    model = PlanningModel(scenario)
    with _Stage("coverage", progress, timings):
        model.prepare()
        model._check_memory()
    with _Stage("build", progress, timings):
        model.build()
    model.check_hard_standards(details=details)
    if getattr(scenario.config, "periods", None) is not None:
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


def _run_phased(
    scenario: Scenario,
    target: Path | None,
    *,
    write: bool,
    maps: bool | None,
    report: bool | None,
    progress: Progress,
    timings: dict[str, float],
) -> RunOutcome:
    """A scenario with ``periods:``: the phased plan, its end-of-horizon maps and report, and its timeline files."""

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
