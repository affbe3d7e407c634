"""Shared test settings and fixtures."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, settings

if TYPE_CHECKING:
    from installed import DefaultRun
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


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel of this checkout (tests/installed.py), built once per session."""
    pytest.importorskip("build")
    from installed import build_wheel

    return build_wheel(tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="session")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment holding :func:`wheel` (tests/installed.py), nothing downloaded."""
    from installed import make_venv

    return make_venv(wheel, tmp_path_factory.mktemp("venv") / "venv")


@pytest.fixture(scope="session")
def zhejiang_default_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> DefaultRun:
    """The one full solve of the shipped Zhejiang default per session, shared read-only.

    ``regionopt run`` without arguments from an empty folder by the installed wheel (so the same
    solve also proves the installed package runs), or, where the wheel cannot be built (no
    ``build`` module), the checkout's CLI in-process.
    """
    from installed import run_default_in_process, run_default_installed

    work = tmp_path_factory.mktemp("anywhere")
    if importlib.util.find_spec("build") is None:
        return run_default_in_process(work)
    return run_default_installed(request.getfixturevalue("venv"), work)
