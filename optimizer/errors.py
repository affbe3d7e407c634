"""Errors a planner can act on.

Every error raised on purpose by regionopt derives from :class:`RegionoptError`.
It carries *where* the problem is (file, row or ID, field) and *what to do*, so
the command line can print one clear line and exit with code 2 instead of a
traceback. Anything else that escapes is a bug in regionopt.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import Any

__all__ = [
    "RegionoptError",
    "InputError",
    "ConfigError",
    "SolverError",
    "SolverNotAvailableError",
    "InfeasibleError",
    "ModelTooLargeError",
    "OutputError",
]


class RegionoptError(Exception):
    """A problem with the user's input, configuration or environment.

    Parameters
    ----------
    message
        What is wrong, in planning terms.
    file
        The file the problem was found in, if any.
    row
        The 1-based data row (CSV: the line after the header is row 1) or the
        ID of the record, if the problem is in one record.
    field
        The column or configuration key at fault.
    hint
        What the user should do about it.
    """

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | PathLike[str] | None = None,
        row: int | str | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.file = Path(file) if file is not None else None
        self.row = row
        self.field = field
        self.hint = hint
        super().__init__(str(self))

    @property
    def location(self) -> str:
        """``file, row N, field 'x'`` — only the parts that are known."""
        parts = []
        if self.file is not None:
            parts.append(str(self.file))
        if self.row is not None:
            parts.append(f"row {self.row}" if isinstance(self.row, int) else f"ID {self.row!r}")
        if self.field is not None:
            parts.append(f"field {self.field!r}")
        return ", ".join(parts)

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}" if self.location else self.message
        if self.hint:
            text += f" Hint: {self.hint}"
        return text


class InputError(RegionoptError, ValueError):
    """A data file (admin units, demand, facilities, candidate sites) is unusable."""


class ConfigError(RegionoptError, ValueError):
    """A scenario file is malformed or inconsistent."""


class SolverError(RegionoptError, RuntimeError):
    """The solver failed or returned no usable plan."""


class SolverNotAvailableError(SolverError):
    """The requested solver is not installed."""


class InfeasibleError(RegionoptError):
    """No plan satisfies the hard constraints; ``diagnosis`` says why.

    ``diagnosis`` is a list of plain-language findings, e.g. which standard in
    which admin unit cannot be met and the cost shortfall against the budget.
    """

    def __init__(self, message: str, *, diagnosis: list[str] | None = None, **kwargs: Any) -> None:
        self.diagnosis = list(diagnosis or [])
        super().__init__(message, **kwargs)

    def __str__(self) -> str:
        text = super().__str__()
        if self.diagnosis:
            text += "\n" + "\n".join(f"  - {line}" for line in self.diagnosis)
        return text


class ModelTooLargeError(RegionoptError, MemoryError):
    """The model would not fit in memory; raised before building it."""


class OutputError(RegionoptError, OSError):
    """The output folder cannot be written safely."""
