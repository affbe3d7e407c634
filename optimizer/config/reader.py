"""Scenario files: schema, parsing and validation.

A scenario is a YAML (``.yaml``/``.yml``) or TOML (``.toml``) file. It is
parsed safely (``yaml.safe_load`` / ``tomllib``), validated against the schema
below (unknown keys are rejected with a "did you mean"), and every relative
path in it is resolved against the scenario file's own folder.

Errors name the file, the line and column when known, and the key at fault::

    configs/x.yaml, row 12, field 'budget.totl': unknown key. Hint: did you mean 'total'?

The annotated reference is ``docs/scenario.md``.
"""

from __future__ import annotations

import difflib
import re
import tomllib
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ValidationError,
)

from ..errors import ConfigError
from .schema import CatalogueConfig, ScenarioConfig

# One of pydantic's ValidationError.errors() (a TypedDict: type, loc, msg, input, ctx).
ErrorDetail = Mapping[str, Any]


# --------------------------------------------------------------------------- parsing
def read_config_file(path: str | Path, what: str = "scenario") -> tuple[dict, Any]:
    """Parse a YAML or TOML file safely.

    Returns the data and, for YAML, the composed node tree (used to report
    line numbers for schema errors); ``None`` for TOML.
    """
    path = Path(path)
    if not path.exists():
        where = "the current folder" if what == "scenario" else "the scenario file"
        raise ConfigError(f"{what} file not found", file=path, hint=f"check the path (relative to {where})")
    if path.is_dir():
        raise ConfigError(f"{what} path is a folder, not a file", file=path, hint=f"give the {what} file inside it")
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=path, hint="save the file as UTF-8 text"
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"cannot read the file: {(exc.strerror or str(exc)).lower()}",
            file=path,
            hint="check the file's permissions",
        ) from None
    if suffix == ".toml":
        try:
            return tomllib.loads(text), None
        except tomllib.TOMLDecodeError as exc:
            # tomllib's message ends with "(at line L, column C)"; keep it, and the line as the row.
            at_line = re.search(r"at line (\d+)", str(exc))
            raise ConfigError(
                f"TOML syntax error: {exc}",
                file=path,
                row=int(at_line.group(1)) if at_line else None,
                hint="fix the TOML syntax at that line",
            ) from None
    if suffix not in (".yaml", ".yml"):
        raise ConfigError(
            f"unsupported {what} format {suffix or '(no extension)'!r}",
            file=path,
            hint="use a .yaml, .yml or .toml file",
        )
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        _check_alias_expansion(node, path)
        _check_duplicate_keys(node, path)
        data = yaml.safe_load(text)
    except yaml.constructor.ConstructorError as exc:
        # safe_load refuses tags such as !!python/object/apply:os.system; say
        # so plainly instead of calling it a syntax error.
        mark = exc.problem_mark or exc.context_mark
        tag = None
        if exc.problem and "tag" in exc.problem:
            tag = exc.problem.rsplit(" ", 1)[-1].strip("'").replace("tag:yaml.org,2002:", "!!")
        raise ConfigError(
            f"YAML tag {tag!r} is not allowed{_at(mark)}: scenario files hold plain data only"
            if tag
            else f"YAML error{_at(mark)}: {exc.problem or exc.context}",
            file=path,
            row=(mark.line + 1) if mark else None,
            hint="remove the tag; write the value as plain text, a number, a list or a mapping",
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.context_mark and exc.problem_mark and exc.context_mark.line != exc.problem_mark.line:
            # e.g. an unclosed quote: the problem shows at the end, the cause where the value started
            problem += (
                f" ({exc.context} started at line {exc.context_mark.line + 1}, column {exc.context_mark.column + 1})"
            )
        raise ConfigError(
            f"YAML syntax error{where}: {problem}",
            file=path,
            row=(mark.line + 1) if mark else None,
            hint="fix the YAML syntax there (indentation, colons, quotes)",
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"YAML error: {exc}", file=path, hint="fix the YAML syntax") from None
    if data is None:
        raise ConfigError(
            "the file is empty", file=path, hint="write the settings (see configs/zhejiang.yaml and docs/scenario.md)"
        )
    if not isinstance(data, dict):
        raise ConfigError(
            f"the file must be a mapping of keys to values at the top level, not a {type(data).__name__}",
            file=path,
            hint="start with 'key: value' lines, e.g. 'name: my-scenario' (see docs/scenario.md)",
        )
    return data, node


def _at(mark: Any) -> str:
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""


# A scenario file is a few hundred values; aliases (``*name``) that expand to more than this
# are an alias bomb ("billion laughs"), which would otherwise exhaust memory in validation.
_MAX_EXPANDED_VALUES = 100_000


def _check_alias_expansion(node: Any, path: Path) -> None:
    """Refuse YAML whose aliases expand to too many values, or refer to themselves.

    The composed tree shares aliased nodes, so it is small even when the data
    it stands for is exponentially large; the expanded size is counted once
    per distinct node.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(n: Any) -> int:
        key = id(n)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise ConfigError(
                f"YAML alias{_at(n.start_mark)} refers to a value that contains it",
                file=path,
                row=n.start_mark.line + 1,
                hint="a scenario cannot contain itself; write the values out",
            )
        open_nodes.add(key)
        if isinstance(n, yaml.MappingNode):
            total = 1 + sum(size(k) + size(v) for k, v in n.value)
        elif isinstance(n, yaml.SequenceNode):
            total = 1 + sum(size(item) for item in n.value)
        else:
            total = 1
        open_nodes.discard(key)
        if total > _MAX_EXPANDED_VALUES:
            raise ConfigError(
                f"the YAML aliases expand to more than {_MAX_EXPANDED_VALUES:,} values",
                file=path,
                hint="write the settings out without nested aliases (*name); a scenario needs far fewer values",
            )
        sizes[key] = total
        return total

    if node is not None:
        size(node)


def _check_duplicate_keys(node: Any, path: Path, where: tuple = ()) -> None:
    """A key given twice in one mapping is an error (YAML loaders silently keep the last)."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            name = str(key.value)
            if isinstance(key, yaml.ScalarNode) and name != "<<":
                line = key.start_mark.line + 1
                if name in seen:
                    raise ConfigError(
                        f"key {name!r} is given twice (lines {seen[name]} and {line})",
                        file=path,
                        row=line,
                        field=".".join(map(str, (*where, name))),
                        hint="keep one of them; otherwise the last would silently win",
                    )
                seen[name] = line
            _check_duplicate_keys(value, path, (*where, name))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _check_duplicate_keys(item, path, (*where[:-1], f"{where[-1]}[{i}]") if where else (f"[{i}]",))


def _node_line(node: Any, loc: tuple) -> int | None:
    """1-based line of the YAML node at ``loc`` (or of its deepest existing parent)."""
    line = None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == str(key):
                    line = k.start_mark.line + 1
                    node = v
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _model_at(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The pydantic model class that owns the last key of ``loc``."""
    current: Any = model
    dict_key = False  # the next key is a key of a mapping (a type id, a level), not a field
    for key in loc[:-1]:
        if isinstance(key, int):
            continue
        if dict_key:
            dict_key = False
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(key)
        if field is None:
            return None
        annotation = field.annotation
        candidates = [annotation]
        while candidates:
            ann = candidates.pop()
            origin = typing.get_origin(ann)
            if origin is None:
                if isinstance(ann, type) and issubclass(ann, BaseModel):
                    current = ann
                    break
            elif origin is dict:
                # e.g. facility_types: dict[str, FacilityTypeConfig]: the model of its values
                dict_key = True
                candidates.append(typing.get_args(ann)[1])
            else:
                candidates.extend(typing.get_args(ann))
        else:
            return None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


# What to do about a value of the wrong kind, by pydantic error type.
_TYPE_HINTS = {
    "float_parsing": "give a plain number, e.g. 1.5e+8 (no units or thousands separators)",
    "float_type": "give a plain number, e.g. 1.5e+8 (no units or thousands separators)",
    "int_parsing": "give a whole number",
    "int_type": "give a whole number",
    "int_from_float": "give a whole number",
    "bool_parsing": "use true or false",
    "bool_type": "use true or false",
    "string_type": "give text (put it in quotes)",
    "dict_type": "give a mapping of keys to values (see docs/scenario.md)",
    "model_type": "give a mapping of keys to values (see docs/scenario.md)",
    "model_attributes_type": "give a mapping of keys to values (see docs/scenario.md)",
    "list_type": "give a list, e.g. [a, b]",
    "finite_number": "give a finite number (not .inf or .nan)",
    "path_type": "give a file path (relative to this file)",
    "string_pattern_mismatch": "use letters, digits, '_', '.' and '-' only (the name becomes the output folder)",
}


def _sort_key(error: ErrorDetail) -> tuple:
    """Which of several schema errors to report first.

    An unknown key comes first: a misspelt key (``totl``) also makes the real
    one (``total``) "missing", and the typo is what the user must fix. Errors
    inside a value rank before errors of a union branch the user did not mean
    (e.g. ``catalogue`` as a path when an inline catalogue was written).
    """
    kind = error["type"]
    rank = 0 if kind == "extra_forbidden" else 2 if kind in ("path_type", "model_type", "model_attributes_type") else 1
    return (rank, -len(error["loc"]))


_PYDANTIC_INTERNAL = (
    "function-",
    "lax-or-strict[",
    "json-or-python[",
    "union[",
    "tagged-union[",
    "nullable[",
    "chain[",
    "default[",
    "constrained-",
    "is-instance[",
)


def _clean_loc(loc: tuple) -> tuple:
    # pydantic's internal validator names ('function-after[...]', 'lax-or-strict[...]') are not keys either
    loc = tuple(k for k in loc if not (isinstance(k, str) and k.startswith(_PYDANTIC_INTERNAL)))
    # Pydantic reports union members as extra path parts (e.g. 'CatalogueConfig');
    # drop those, they are not keys the user wrote.
    return tuple(k for k in loc if not (isinstance(k, str) and k[:1].isupper() and k.endswith(("Config", "Spec"))))


def _allowed_and_close(root: type[BaseModel], loc: tuple) -> tuple[list[str], str | None]:
    if not loc:
        return [], None
    owner = _model_at(root, loc)
    allowed = list(owner.model_fields) if owner else []
    close = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.5)
    return allowed, (close[0] if close else None)


def _errors_to_report(exc: ValidationError, root: type[BaseModel]) -> Sequence[ErrorDetail]:
    """The schema errors worth reporting, the one to show first at the front."""
    errors = sorted(exc.errors(), key=_sort_key)
    # A misspelt key ('totl') also makes the key it was meant to be ('total')
    # missing; that second error is the same problem, so it is not counted.
    meant = set()
    for e in errors:
        if e["type"] == "extra_forbidden":
            loc = _clean_loc(e["loc"])
            close = _allowed_and_close(root, loc)[1]
            if close:
                meant.add(loc[:-1] + (close,))
    errors = [e for e in errors if not (e["type"] == "missing" and _clean_loc(e["loc"]) in meant)]
    # For a union (``catalogue``: a path or an inline catalogue) pydantic also
    # reports the branch the user did not mean ("not a valid path") beside the
    # real error deeper inside; drop such shallower type errors.
    locs = [_clean_loc(e["loc"]) for e in errors]
    return [
        e
        for e, loc in zip(errors, locs, strict=False)
        if not (e["type"].endswith("_type") and any(len(o) > len(loc) and o[: len(loc)] == loc for o in locs))
    ] or errors


def _value_error_message(error: ErrorDetail) -> str:
    """A planner's wording of pydantic's message for a bad value."""
    message = error["msg"].removeprefix("Value error, ")  # our own validators' messages stand alone
    message = re.sub(r" or instance of \w+", "", message)  # pydantic's class names mean nothing to a planner
    if "input" in error and error["input"] is None:
        message = f"no value given (the key is empty); {message[:1].lower()}{message[1:]}"
    elif "input" in error and not isinstance(error["input"], (dict, list)):
        message += f" (got {error['input']!r})"
    return message


def _value_error_hint(error: ErrorDetail, dotted: str | None) -> str:
    """What to do about a bad value, by the kind of error and the key it is at."""
    kind = error["type"]
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", str(error.get("ctx", {}).get("expected", "")))
        matches = difflib.get_close_matches(str(error.get("input", "")).strip().lower(), choices, n=1, cutoff=0.4)
        return f"did you mean {matches[0]!r}?" if matches else "use one of " + ", ".join(map(repr, choices))
    if dotted and dotted.endswith(".cost"):
        return "give the construction cost of one new facility in yuan, 0 or more, e.g. cost: 1.0e+8"
    if dotted == "region.projected_crs":
        return (
            "give a projected (metric) CRS, e.g. 'EPSG:32650' (UTM 50N) for Zhejiang, "
            "or leave the key out to use the region's UTM zone"
        )
    if dotted and dotted.startswith(("budget.per_family", "budget.per_unit")):
        return "give the cap in yuan, 0 or more (0 forbids spending there), e.g. 5.0e+7"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return "change the value to fit that range (see docs/scenario.md)"
    return _TYPE_HINTS.get(kind, "fix this value (see docs/scenario.md)")


def _message_and_hint(
    error: ErrorDetail, loc: tuple, dotted: str | None, root: type[BaseModel]
) -> tuple[str, str | None]:
    """Message and hint for the first schema error (at ``loc``, written ``dotted``)."""
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed, close = _allowed_and_close(root, loc)
        if close:
            return "unknown key", f"did you mean {close!r}?"
        if allowed:
            return "unknown key", "allowed keys here: " + ", ".join(allowed)
        return "unknown key", None
    if kind == "missing":
        return "required key is missing", "add it (see docs/scenario.md)"
    return _value_error_message(error), _value_error_hint(error, dotted)


def _format_validation_error(exc: ValidationError, path: Path | None, node: Any, root: type[BaseModel]) -> ConfigError:
    errors = _errors_to_report(exc, root)
    first = errors[0]
    loc = _clean_loc(first["loc"])
    dotted = "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in loc).lstrip(".") or None  # types[0]
    line = _node_line(node, loc) if node is not None else None
    message, hint = _message_and_hint(first, loc, dotted, root)
    if len(errors) > 1:
        message += f" ({len(errors) - 1} more problem{'s' if len(errors) > 2 else ''} after this one)"
    return ConfigError(message, file=path, row=line, field=dotted, hint=hint)


def validate_mapping(data: dict, model: type[BaseModel], *, path: Path | None = None, node: Any = None) -> Any:
    """Validate ``data`` against ``model``; schema errors become :class:`ConfigError`."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _format_validation_error(exc, path, node, model) from None


def _resolve(base: Path, p: Path) -> Path:
    p = Path(p).expanduser()
    return p if p.is_absolute() else (base / p).resolve()


def load_catalogue_config(path: str | Path) -> CatalogueConfig:
    """Read and validate a facility-type catalogue file."""
    path = Path(path)
    data, node = read_config_file(path, what="catalogue")
    catalogue = validate_mapping(data, CatalogueConfig, path=path, node=node)
    catalogue.__dict__["source_path"] = path.resolve()
    catalogue.__dict__["source_node"] = node
    return catalogue


def load_config(path: str | Path) -> ScenarioConfig:
    """Read, validate and resolve a scenario file.

    Relative paths (region layers, catalogue, output folder) are resolved
    against the scenario file's folder, so a scenario runs the same from any
    working directory.
    """
    path = Path(path)
    data, node = read_config_file(path)
    config = validate_mapping(data, ScenarioConfig, path=path, node=node)
    base = path.resolve().parent
    for name in ("admin_units", "demand", "facilities", "candidates", "competitors"):
        spec = getattr(config.region, name)
        if spec is not None:
            spec.path = _resolve(base, spec.path)
    if isinstance(config.catalogue, Path):
        config.catalogue = _resolve(base, config.catalogue)
    for spec in (config.impedance, *config.impedance.by_type.values()):
        if spec.path is not None:
            spec.path = _resolve(base, spec.path)
    if config.outputs.dir is not None:
        config.outputs.dir = _resolve(base, config.outputs.dir)
    config.__dict__["source_path"] = path.resolve()
    # The YAML node tree, so that later checks (e.g. build_catalogue) can
    # name the line of a key; None for TOML.
    config.__dict__["source_node"] = node
    return config


def config_line(config: Any, *loc: Any) -> int | None:
    """1-based line of the key at ``loc`` in the YAML file ``config`` was read from, if known."""
    node = getattr(config, "__dict__", {}).get("source_node")
    return _node_line(node, loc) if node is not None else None
