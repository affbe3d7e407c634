"""Yes/no values given by users: one parser for data columns and scenario settings.

A yes/no column (demand ``urban``, an admin-unit group such as
``mountain26``) may hold real booleans, the numbers 0 and 1, or words:
``true/false``, ``t/f``, ``yes/no``, ``y/n``, ``1/0``, ``是/否`` in any case.
Anything else is refused by the caller with the file, row and column;
nothing is read by Python truthiness (``"no"`` is a non-empty string, so
``bool("no")`` is true).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "TRUE_WORDS",
    "FALSE_WORDS",
    "ACCEPTED",
    "BLANK",
    "INVALID",
    "parse_yes_no",
    "parse_yes_no_values",
    "is_yes_no",
]

TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1", "是"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0", "否"})
#: The accepted spellings, for hints.
ACCEPTED = "true/false, yes/no, y/n, t/f, 1/0 or 是/否"

#: Returned by :func:`parse_yes_no` for an empty cell and for a value that is not yes/no.
BLANK = None
INVALID = "invalid"


def parse_yes_no(value: Any, *, extra_true: Iterable[str] = (), extra_false: Iterable[str] = ()) -> bool | str | None:
    """``True``/``False`` for a yes/no value, :data:`BLANK` (``None``) for an empty cell, else :data:`INVALID`.

    Parameters
    ----------
    value
        A bool, a number (only 0 and 1 are yes/no), a string, or a missing value.
    extra_true, extra_false
        Further (lower-case) words a column accepts, e.g. ``urban``/``rural``.
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if value is None:
        return BLANK
    if isinstance(value, (int, float, np.integer, np.floating)):
        number = float(value)
        if math.isnan(number):
            return BLANK
        if number == 1.0:
            return True
        if number == 0.0:
            return False
        return INVALID
    if isinstance(value, str):
        word = value.strip().lower()
        if not word:
            return BLANK
        if word in TRUE_WORDS or word in extra_true:
            return True
        if word in FALSE_WORDS or word in extra_false:
            return False
        return INVALID
    try:  # pandas' NA / NaT
        if pd.isna(value):
            return BLANK
    except (TypeError, ValueError):
        pass
    return INVALID


def parse_yes_no_values(values: Iterable[Any]) -> tuple[np.ndarray, np.ndarray, int | None]:
    """Parse a column: ``(flags, blank, first_invalid)``.

    ``flags`` is false where blank or invalid; ``first_invalid`` is the
    position of the first value that is not yes/no (``None`` if all are).
    """
    parsed = [parse_yes_no(v) for v in values]
    flags = np.array([p is True for p in parsed], dtype=bool)
    blank = np.array([p is BLANK for p in parsed], dtype=bool)
    bad = next((i for i, p in enumerate(parsed) if p is INVALID), None)
    return flags, blank, bad


def is_yes_no(values: Iterable[Any]) -> bool:
    """Whether every value is yes/no or blank, and at least one is not blank."""
    seen = False
    for v in values:
        p = parse_yes_no(v)
        if p is INVALID:
            return False
        seen = seen or p is not BLANK
    return seen
