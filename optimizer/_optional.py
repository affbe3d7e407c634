"""Optional extras: one helper imports them and says which ``pip install`` brings a missing one."""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import ConfigError

# import name -> the extra of regionopt that installs it
EXTRAS = {
    "dask": "dask",
    "distributed": "dask",
    "matplotlib": "dask",
    "pyarrow": "dask",
    "playwright": "test",
    "spopt": "bench",
    "psutil": "bench",
    "pyrosm": "network",
    "networkx": "test",
}


def optional_import(name: str, *, purpose: str = "") -> ModuleType:
    """Import the optional module ``name`` or raise a :class:`ConfigError` naming the extra that installs it.

    Parameters
    ----------
    name
        Module to import, e.g. ``"dask.distributed"``.
    purpose
        What it is needed for, for the message (e.g. ``"regionopt sweep"``).
    """
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        top = name.split(".")[0]
        if exc.name is not None and exc.name.split(".")[0] != top:
            raise  # the extra is installed but broken: a real bug, show it
        extra = EXTRAS.get(top, top)
        needed = f" for {purpose}" if purpose else ""
        raise ConfigError(
            f"the optional package '{top}' is not installed{needed}",
            hint=f"install it with: pip install 'regionopt[{extra}]'",
        ) from exc
