"""The shipped default with the equity objective in one compare mode: one home for the benchmarks' overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from optimizer.scenario import Scenario, load_scenario

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "zhejiang.yaml"


def equity_changes(compare: str = "units") -> dict[str, Any]:
    """Overrides of ``configs/zhejiang.yaml`` for equity in ``compare`` mode (group modes: ``mountain26``)."""
    changes: dict[str, Any] = {"objective.kind": "equity", "objective.equity.compare": compare}
    if compare != "units":
        changes["objective.equity.group"] = "mountain26"
    return changes


def equity_scenario(compare: str = "units") -> Scenario:
    """The shipped default with only the equity objective (and its compare mode) changed."""
    return load_scenario(CONFIG).replace(**equity_changes(compare))
