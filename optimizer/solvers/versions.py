"""Which solvers are installed, and their versions."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Any

import highspy
import pulp

from ..errors import SolverNotAvailableError


def solver_versions() -> dict[str, str]:
    """Versions of PuLP and the solvers it can reach, for manifests."""
    versions = {"pulp": pulp.__version__}
    try:
        _silence_highs_banner()
        h = highspy.Highs()
        versions["highs"] = f"{h.versionMajor()}.{h.versionMinor()}.{h.versionPatch()}"
    except Exception:  # pragma: no cover - highspy is a hard dependency
        versions["highs"] = "not installed"
    versions["cbc"] = _cbc_version()
    return versions


def _cbc_command(**options: Any) -> pulp.COIN_CMD | None:
    """PuLP's bundled CBC binary, else a ``cbc`` on the PATH (e.g. from
    ``apt-get install coinor-cbc``); ``None`` when neither can be executed."""
    # PULP_CBC_CMD is deprecated (gone in PuLP 4, where COIN_CMD finds the CBC of 'pulp[cbc]')
    for cls in filter(None, (getattr(pulp, "PULP_CBC_CMD", None), pulp.COIN_CMD)):
        try:
            solver = cls(**options)
        except pulp.PulpSolverError:
            continue
        if solver.available():
            return solver
    return None


CBC_MISSING_HINT = (
    "install CBC (pip install 'pulp[cbc]', or apt-get install coinor-cbc, or conda install -c conda-forge "
    "coin-or-cbc; then check that 'cbc' runs) or use solver.name: highs"
)


def check_solver_available(name: str) -> None:
    """Raise :class:`SolverNotAvailableError` (with how to install it) if solver ``name`` cannot run here.

    The command line calls this before loading data, so a missing solver is
    reported at once rather than after the model is built. There is no
    silent fallback to the other solver: results and run times differ, and the
    scenario asked for this one.
    """
    if name == "cbc" and _cbc_command(msg=False) is None:
        raise SolverNotAvailableError(
            "CBC is not available: PuLP's bundled CBC binary cannot be executed on this machine "
            "and there is no 'cbc' on the PATH",
            field="solver.name",
            hint=CBC_MISSING_HINT,
        )
    # HiGHS needs no check: highspy is a hard dependency imported at the top of this module,
    # so wherever this runs, it is installed.


def _cbc_version() -> str:
    cbc = _cbc_command(msg=False)
    if cbc is None:
        return "not installed"
    # PuLP ships CBC but does not expose its version; the binary prints it.

    try:
        out = subprocess.run([cbc.path, "-quit"], capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    match = re.search(r"Version:\s*(\S+)", out.stdout)
    return match.group(1) if match else "unknown"


_VERSION_CACHE: dict[str, str] = {}


def solver_versions_cached(name: str) -> str:
    if name not in _VERSION_CACHE:
        _VERSION_CACHE.update(solver_versions())
    return _VERSION_CACHE.get(name, "unknown")


_BANNER_SILENCED = False


def _silence_highs_banner() -> None:
    """HiGHS prints a copyright banner when the first ``Highs`` object of a
    process is created, before any option can turn output off; create that
    first object with stdout pointed at /dev/null."""
    global _BANNER_SILENCED
    if _BANNER_SILENCED:
        return

    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)
    _BANNER_SILENCED = True
