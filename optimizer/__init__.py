"""regionopt — where should a region build its next hospitals, schools and cultural venues?

The public API, so that a study writes ``import optimizer as ro``::

    scenario = ro.load_scenario("configs/zhejiang.yaml")
    result = ro.PlanningModel(scenario).solve()
"""

from ._version import __version__
from .errors import (
    ConfigError,
    InfeasibleError,
    InputError,
    ModelTooLargeError,
    OutputError,
    RegionoptError,
    SolverError,
    SolverNotAvailableError,
)
from .locate import CFLP, LSCP, MCLP, PCenter, PMedian
from .pipeline import run, validate
from .planning import PlanningModel
from .region import Region, load_region
from .results import PlanResult
from .scenario import Scenario, load_scenario
from .sweeps import sweep

__all__ = [
    "CFLP",
    "LSCP",
    "MCLP",
    "ConfigError",
    "InfeasibleError",
    "InputError",
    "ModelTooLargeError",
    "OutputError",
    "PCenter",
    "PMedian",
    "PlanResult",
    "PlanningModel",
    "Region",
    "RegionoptError",
    "Scenario",
    "SolverError",
    "SolverNotAvailableError",
    "__version__",
    "load_region",
    "load_scenario",
    "run",
    "sweep",
    "validate",
]
