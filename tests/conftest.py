"""Shared test settings and fixtures."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, settings

if TYPE_CHECKING:
    from line_plans import LinePlans

# No test may depend on timing: hypothesis' per-example deadline and its "generation too slow"
# health check both measure wall time, which fails property tests on a busy machine. Tests that
# set their own settings keep them; this profile only fills in what they leave out.
settings.register_profile("regionopt", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("regionopt")


@pytest.fixture(scope="session")
def line_plans(tmp_path_factory: pytest.TempPathFactory) -> LinePlans:
    """The line region's plans (tests/line_plans.py), each distinct scenario solved once per session."""
    from line_plans import LinePlans  # imported here: only the impedance tests need it

    return LinePlans(tmp_path_factory.mktemp("line-plans"))
