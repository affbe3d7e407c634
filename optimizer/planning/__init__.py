"""The budgeted, multi-type, standards-aware planning model."""

from .model import PlanningModel, solve_scenario
from .size import ModelSize

__all__ = ["ModelSize", "PlanningModel", "solve_scenario"]
