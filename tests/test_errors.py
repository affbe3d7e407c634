"""Every error in docs/errors.md, through the command line.

For each documented error the example message is read from docs/errors.md and
the test runs ``regionopt run`` / ``regionopt validate`` on a small planning
folder with that fault injected, then asserts

* the exact message (the docs' example line, with paths relative to the
  planning folder), exit code 2 and no traceback;
* that nothing was written: the whole planning folder — inputs, and an
  earlier result in ``reports/toy`` made by a successful run — is
  byte-identical afterwards, with no new file or folder (no ``.tmp-`` left,
  no ``--out fresh/results`` created).

The planning folder (``make_planning_folder``)::

    scenario.yaml, catalogue.yaml
    data/region.gpkg   layer admin_units: zj (province) = c1 West + c2 East counties
    data/demand.csv    d1 (West), d2, d3 (East)
    data/sites.csv     s1 (West), s2, s3 (East)
    data/facilities.csv  f1, a clinic at d1

Loader errors (``InputError``) have their own unit tests in test_io.py; here
the faults the planning office meets most often go through the CLI too.
Further: a hand-computed hard-standard shortfall; a plan stopped before its
proof marked NOT optimal in the CLI summary, solution.json, manifest.json
and the report; CBC from the PATH; paths relative to the scenario file;
escaping of data strings in the written pages; no eval/exec/shell in the
package; the memory refusal before coverage pairs are computed; and, in
subprocesses, SIGINT/SIGTERM during the solve (HiGHS and CBC) and during
writing.
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pulp
import pytest
import shapely
from click.testing import CliRunner

import optimizer.solvers.highs
from optimizer.cli.main import main
from optimizer.solvers.highs import _InterruptibleHiGHS  # noqa: E402
from optimizer.solvers.options import SolveReport  # noqa: E402
from optimizer.solvers.versions import _VERSION_CACHE  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "errors.md"
PYTHON = sys.executable

# ----------------------------------------------------------------------------- the planning folder
SCENARIO = """\
# Toy scenario for docs/errors.md: two counties, three villages.
name: toy
title: Toy region
region:
  name: Toy
  admin_units: {path: data/region.gpkg, layer: admin_units}
  demand: data/demand.csv
  facilities: data/facilities.csv
  candidates: data/sites.csv
catalogue: catalogue.yaml
standards:
  mode: hard
  levels:
    county: {required: [library]}
budget:
  total: 1.0e+8
solver:
  time_limit: 10
"""

CATALOGUE = """\
# Toy catalogue: construction cost of one facility in yuan.
facility_types:
  clinic:
    family: health
    name_en: Clinic
    cost: 1.0e+7
    service: {distance_km: 20}
  library:
    family: culture
    name_en: Library
    cost: 5.0e+7
    service: {distance_km: 30}
"""

DEMAND = "demand_id,population,lon,lat\nd1,100,119.5,29.5\nd2,200,121.5,29.5\nd3,300,120.8,30.5\n"
SITES = "site_id,kind,lon,lat\ns1,seat,119.6,29.6\ns2,seat,121.4,29.6\ns3,seat,120.8,30.4\n"
FACILITIES = "facility_id,facility_type,name,lon,lat\nf1,clinic,West clinic,119.5,29.5\n"


def _write_without_crs(path) -> None:
    """The admin units written with no CRS at all (pyogrio warns that the file has none: that is the point)."""
    with pytest.warns(UserWarning, match="'crs' was not provided"):
        admin_units().set_crs(None, allow_override=True).to_file(path)


def admin_units() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "unit_id": ["zj", "c1", "c2"],
            "name": ["Province", "West", "East"],
            "level": ["province", "county", "county"],
            "parent_id": [None, "zj", "zj"],
        },
        geometry=[shapely.box(119, 28, 122, 31), shapely.box(119, 28, 120.5, 31), shapely.box(120.5, 28, 122, 31)],
        crs="EPSG:4326",
    )


def make_planning_folder(root: Path) -> Path:
    """Write the toy planning folder into ``root``; return the scenario path."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    admin_units().to_file(root / "data" / "region.gpkg", layer="admin_units")
    (root / "data" / "demand.csv").write_text(DEMAND)
    (root / "data" / "sites.csv").write_text(SITES)
    (root / "data" / "facilities.csv").write_text(FACILITIES)
    (root / "catalogue.yaml").write_text(CATALOGUE)
    (root / "scenario.yaml").write_text(SCENARIO)
    return root / "scenario.yaml"


def snapshot(folder: Path) -> dict[str, str]:
    """Every file and folder under ``folder`` with the SHA-256 of its bytes."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        out[rel] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The planning folder with an earlier result in reports/toy (a successful run, maps and report included)."""
    return solved_planning_folder(tmp_path_factory.mktemp("template").resolve(), "reports/toy")


def solved_planning_folder(root: Path, out: str, *args: str) -> Path:
    """Write the planning folder into ``root`` and run it (from ``root``) into ``out``."""
    make_planning_folder(root)
    old = Path.cwd()
    os.chdir(root)
    try:
        result = CliRunner().invoke(main, ["run", "scenario.yaml", *args])
    finally:
        os.chdir(old)
    assert result.exit_code == 0, result.output
    assert (root / out / "solution.json").is_file()
    return root


@pytest.fixture
def planning(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh copy of the template planning folder, as the current folder."""
    root = (tmp_path / "planning").resolve()
    shutil.copytree(template, root)
    monkeypatch.chdir(root)
    return root


# ----------------------------------------------------------------------------- running the CLI
def relative(text: str, root: Path) -> str:
    """Paths inside the planning folder written relative to it, as in the docs."""
    return text.replace(str(root) + os.sep, "").replace(str(root), ".")


def error_part(stderr: str) -> str:
    """The ``error:``/``interrupted:`` line and its diagnosis bullets, without progress lines."""
    lines = stderr.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(("error:", "interrupted:")):
            return "\n".join(lines[i:])
    return ""


def invoke(args: list[str], root: Path):
    result = CliRunner().invoke(main, args)
    return result, relative(error_part(result.stderr), root)


def assert_clean_failure(result, message: str, expected: str, code: int = 2) -> None:
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == code, result.output
    assert message == expected


# ----------------------------------------------------------------------------- docs/errors.md
def doc_examples() -> dict[str, list[str]]:
    """``{heading: [example, ...]}`` from docs/errors.md.

    An example is a line of a fenced block that starts with ``error:`` or
    ``interrupted:``, with the indented diagnosis lines that follow it.
    """
    entries: dict[str, list[str]] = {}
    heading = None
    in_block = False
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_block = not in_block
            continue
        if not in_block and line.startswith("#"):
            heading = line.lstrip("#").strip()
            continue
        if in_block and heading:
            if line.startswith(("error:", "interrupted:")):
                entries.setdefault(heading, []).append(line)
            elif line.startswith("  - ") and entries.get(heading):
                entries[heading][-1] += "\n" + line
    return entries


DOC = doc_examples()


def shape(text: str) -> str:
    """A message with its variable parts (quoted names, numbers) replaced: for matching against the docs."""
    text = re.sub(r"\(\d+ more problems? after this one\)", "", text)
    text = text.replace("no value given (the key is empty); ", "")  # documented prefix of any schema message
    text = re.sub(r"(?<!\w)'[^']*'(?!\w)|(?<!\w)\"[^\"]*\"(?!\w)", "Q", text)  # not the ' of "region's"
    text = re.sub(r"(?<![\w.])-?(?:\d[\d,]*(?:\.\d+)?(?:e[+-]?\d+)?|nan|inf)(?![\w])", "N", text)
    text = re.sub(r"Q(?:, Q)+", "Q", text)
    text = re.sub(r"N(?:, N)+", "N", text)
    return re.sub(r"\s+", " ", text).strip()


def doc_forms() -> tuple[list[str], list[re.Pattern]]:
    """Shapes of every documented message: example lines, and `inline code` naming other forms in the prose.

    A form ending in ``…`` (e.g. `YAML syntax error at line 3, column 8: …`) stands for any text there.
    """
    text = DOCS.read_text(encoding="utf-8")
    spans = re.findall(r"`([^`\n]{12,})`", text)
    exact = [shape(ex.split("\n")[0]).lower() for examples in DOC.values() for ex in examples]
    exact += [shape(span).lower() for span in spans if "…" not in span]
    open_ended = [
        re.compile(".*".join(re.escape(part) for part in shape(span).lower().split("…")))
        for span in spans
        if "…" in span
    ]
    return exact, open_ended


FORMS, OPEN_FORMS = doc_forms()


def documented(message: str) -> bool:
    """True if ``message`` (an error's message, without location and hint) has the shape of a documented one."""
    want = shape(message).lower()
    return any(want in form for form in FORMS) or any(p.fullmatch(want) for p in OPEN_FORMS)


# ----------------------------------------------------------------------------- the cases
Edit = Callable[[Path], None]


def replace(file: str, old: str, new: str) -> Edit:
    def edit(root: Path) -> None:
        path = root / file
        text = path.read_text(encoding="utf-8")
        assert old in text, (file, old)
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    return edit


def append(file: str, text: str) -> Edit:
    def edit(root: Path) -> None:
        with open(root / file, "a", encoding="utf-8") as fh:
            fh.write(text)

    return edit


def write(file: str, content: str | bytes) -> Edit:
    def edit(root: Path) -> None:
        path = root / file
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")

    return edit


def remove(file: str) -> Edit:
    return lambda root: (root / file).unlink()


@dataclass
class Case:
    """A fault: edits to the planning folder, the command(s) that meet it, optional monkeypatches."""

    edits: list[Edit] = field(default_factory=list)
    config: str = "scenario.yaml"
    commands: tuple[str, ...] = ("run", "validate")
    extra: tuple[str, ...] = ()
    patch: Callable[[pytest.MonkeyPatch, Path], None] | None = None
    code: int = 2


def cbc_missing(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    monkeypatch.setattr(pulp.PULP_CBC_CMD, "available", lambda self: False)
    monkeypatch.setattr(pulp.COIN_CMD, "available", lambda self: False)


def solver_fails(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    import optimizer.planning.model

    def failing(problem, options=None):
        return SolveReport("error", None, None, None, 0.0, "highs", "1", "Solve error")

    monkeypatch.setattr(optimizer.planning.model, "solve_problem", failing)
    # coverage's LP-guided path (planning/lp_plan.py) solves through bulk HiGHS: the stand-in is the plain solve
    monkeypatch.setattr(optimizer.planning.model, "lp_guided_pays", lambda model, mip_gap=None: False)


def internal_bug(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    import optimizer.planning.model

    def broken(self):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(optimizer.planning.model.PlanningModel, "prepare", broken)


SHP_SCENARIO = SCENARIO.replace("{path: data/region.gpkg, layer: admin_units}", "data/admin_shp")


def shapefile_folder(root: Path) -> None:
    admin_units().to_file(root / "data" / "admin_shp", driver="ESRI Shapefile")
    (root / "scenario.yaml").write_text(SHP_SCENARIO)


GBK_SCENARIO = SCENARIO.replace("title: Toy region", "title: 玩具地区").encode("gbk")


def townships(west: int = 12, east: int = 3) -> Edit:
    """Split West into ``west`` and East into ``east`` townships (strips south to north): c1-1 … c1-12, c2-1 … c2-3.

    s1 lies in West 7, s2 in East 2, s3 in East 3: the other eleven townships of West and East 1 have no site.
    """

    def edit(root: Path) -> None:
        import pandas as pd

        rows = []
        for county, name, (x0, x1), n in (("c1", "West", (119, 120.5), west), ("c2", "East", (120.5, 122), east)):
            for k in range(n):
                rows.append(
                    {
                        "unit_id": f"{county}-{k + 1}",
                        "name": f"{name} {k + 1}",
                        "level": "township",
                        "parent_id": county,
                        "geometry": shapely.box(x0, 28 + 3 * k / n, x1, 28 + 3 * (k + 1) / n),
                    }
                )
        units = pd.concat([admin_units(), gpd.GeoDataFrame(rows, crs="EPSG:4326")], ignore_index=True)
        gpd.GeoDataFrame(units, crs="EPSG:4326").to_file(root / "data" / "region.gpkg", layer="admin_units")

    return edit


# A phased plan: two five-year periods (optimizer/phased.py).
PERIODS = """\
periods:
  phases:
    - {label: p1, start: 2026, years: 5, budget: 5.0e+7}
    - {label: p2, start: 2031, years: 5, budget: 5.0e+7}
"""

# A competitors layer (optimizer/io/competitors.py) beside the candidate sites.
COMPETITOR_HEAD = "facility_id,facility_type,attractiveness,lon,lat\n"
COMPETITORS = [
    replace(
        "scenario.yaml",
        "  candidates: data/sites.csv\n",
        "  candidates: data/sites.csv\n  competitors: data/competitors.csv\n",
    )
]

# heading in docs/errors.md -> one Case per example of that entry, in order.
CASES: dict[str, list[Case]] = {
    # ------------------------------------------------------------- scenario and catalogue files
    "Scenario or catalogue file not found": [
        Case(config="scenrio.yaml"),
        Case([replace("scenario.yaml", "catalogue: catalogue.yaml", "catalogue: catalog.yaml")]),
    ],
    "Scenario path is a folder": [Case(config="data")],
    "Unsupported scenario format": [Case([write("scenario.json", "{}")], config="scenario.json")],
    "Not UTF-8 text": [Case([write("scenario.yaml", GBK_SCENARIO)])],
    "Empty file or not a mapping": [
        Case([write("scenario.yaml", "# nothing yet\n")]),
        Case([write("scenario.yaml", "- name: toy\n- budget: 1\n")]),
    ],
    "YAML syntax error": [
        Case([replace("scenario.yaml", "  total: 1.0e+8\n", "  total: 1.0e+8\n   per_family: {culture: 5.0e+7}\n")]),
        Case([replace("scenario.yaml", "title: Toy region", 'title: "Toy region')]),
        Case([replace("scenario.yaml", "  total: 1.0e+8", "\ttotal: 1.0e+8")]),
    ],
    "TOML syntax error": [
        Case([write("scenario.toml", 'name = "toy"\nbudget = {total = 1.0e8\n')], config="scenario.toml"),
    ],
    "YAML tag not allowed": [
        # The snapshot check proves the command did not run (no file 'hacked').
        Case(
            [replace("scenario.yaml", "title: Toy region", "title: !!python/object/apply:os.system ['touch hacked']")]
        ),
    ],
    "YAML aliases that expand too far": [
        Case(
            [
                append(
                    "scenario.yaml",
                    "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}' if i else '1'] * 10)}]\n" for i in range(6)),
                )
            ]
        ),
        Case([append("scenario.yaml", "loop: &a [1, *a]\n")]),
    ],
    "Key given twice": [Case([append("scenario.yaml", "budget:\n  total: 2.0e+8\n")])],
    "Unknown key": [
        Case([replace("scenario.yaml", "  total: 1.0e+8", "  totl: 1.0e+8")]),
        Case([replace("scenario.yaml", "solver:", "solvers:")]),
        Case([append("scenario.yaml", "output:\n  maps: false\n")]),
        # a key inside an entry the user named (the type 'library') still gets its suggestion
        Case([replace("catalogue.yaml", "    cost: 5.0e+7\n", "    cost: 5.0e+7\n    capcity: 10\n")]),
        Case([replace("scenario.yaml", "county: {required: [library]}", "county: {required: [library], penalti: 3}")]),
    ],
    "Required key missing": [
        Case([replace("scenario.yaml", "budget:\n  total: 1.0e+8\n", "")]),
        Case([replace("catalogue.yaml", "    cost: 5.0e+7\n", "")]),
    ],
    "Negative or missing cost": [
        Case([replace("catalogue.yaml", "cost: 5.0e+7", "cost: -5.0e+7")]),
        Case([replace("catalogue.yaml", "cost: 5.0e+7", "cost:")]),
        Case([append("scenario.yaml", "facility_types:\n  clinic: {cost: -1}\n")]),
    ],
    "Wrong kind of value": [
        Case([replace("scenario.yaml", "total: 1.0e+8", "total: 6 billion")]),
        Case([replace("scenario.yaml", "total: 1.0e+8", "total: 0")]),
        Case([replace("scenario.yaml", "total: 1.0e+8", "total: .inf")]),
        Case([replace("catalogue.yaml", "cost: 1.0e+7", "cost: yes")]),
        Case([replace("scenario.yaml", "  time_limit: 10", "  time_limit: -10")]),
        Case([replace("scenario.yaml", "name: toy", "name: toy scenario/2025")]),
        Case([replace("scenario.yaml", "  mode: hard", "  mode: strict")]),
        Case([replace("scenario.yaml", "county: {required: [library]}", "county: {required: {library: 0}}")]),
        Case([replace("scenario.yaml", "county: {required: [library]}", "county: library")]),
        Case([replace("catalogue.yaml", "service: {distance_km: 20}", "service: {minutes: 20}")]),
        Case([append("scenario.yaml", "objective:\n  kind: min_cost\n  coverage_targets: {clinic: 95}\n")]),
    ],
    "Negative or infinite budget": [
        Case([replace("scenario.yaml", "  total: 1.0e+8", "  total: 1.0e+8\n  per_family: {health: -1.0e+8}")]),
        Case(
            [
                replace(
                    "scenario.yaml",
                    "  total: 1.0e+8",
                    "  total: 1.0e+8\n  per_unit: [{levels: county, overrides: {c1: -5}}]",
                )
            ]
        ),
        Case([replace("scenario.yaml", "  total: 1.0e+8", "  total: 1.0e+8\n  per_family: {culture: .nan}")]),
    ],
    "Projected CRS not metric": [
        Case(
            [
                replace(
                    "scenario.yaml",
                    "  candidates: data/sites.csv",
                    "  candidates: data/sites.csv\n  projected_crs: EPSG:4326",
                )
            ]
        ),
        Case(
            [
                replace(
                    "scenario.yaml",
                    "  candidates: data/sites.csv",
                    "  candidates: data/sites.csv\n  projected_crs: UTM please",
                )
            ]
        ),
    ],
    "Unknown solver": [
        Case([replace("scenario.yaml", "  time_limit: 10", "  name: gurobi")]),
        Case([replace("scenario.yaml", "  time_limit: 10", "  name: HiGHS")]),
    ],
    "New facility type incomplete": [Case([append("scenario.yaml", "facility_types:\n  museum: {family: culture}\n")])],
    # ------------------------------------------------------------- scenario consistency
    "Unknown facility type": [
        Case([replace("scenario.yaml", "required: [library]", "required: [libary]")]),
        Case([append("scenario.yaml", "types: [clinic, museum]\n")]),
        Case([append("scenario.yaml", "objective:\n  weights: {clinc: 2}\n")]),
        Case([append("scenario.yaml", "sites:\n  required:\n    - {site_id: s1, facility_type: hospital}\n")]),
    ],
    "Existing facility of a type the catalogue lacks": [
        Case([append("data/facilities.csv", "f2,Library,East library,121.5,29.5\n")]),
        Case(
            [
                append(
                    "data/facilities.csv",
                    "f2,gym,East gym,121.5,29.5\nf3,gym,West gym,119.6,29.6\nf4,pool,East pool,121.5,29.5\n",
                )
            ]
        ),
        Case([append("scenario.yaml", "ignore_facility_types: [library]\n")]),
    ],
    "Competitor of an unknown type or with a bad attractiveness": [
        Case(
            [
                *COMPETITORS,
                write("data/competitors.csv", COMPETITOR_HEAD + "p1,clinic,,121.4,29.6\np2,spa,,121.4,29.6\n"),
            ]
        ),
        Case([*COMPETITORS, write("data/competitors.csv", COMPETITOR_HEAD + "p1,clinic,high,121.4,29.6\n")]),
    ],
    "Unknown admin level": [
        Case([replace("scenario.yaml", "    county: {", "    counties: {")]),
        Case(
            [
                replace(
                    "scenario.yaml", "  total: 1.0e+8", "  total: 1.0e+8\n  per_unit: [{levels: city, amount: 5.0e+7}]"
                )
            ]
        ),
        Case([append("scenario.yaml", "objective:\n  kind: equity\n  equity: {levels: [township]}\n")]),
    ],
    "Unknown admin unit, family or group": [
        Case(
            [
                replace(
                    "scenario.yaml",
                    "  total: 1.0e+8",
                    "  total: 1.0e+8\n  per_unit: [{levels: county, overrides: {c3: 1.0e+7}}]",
                )
            ]
        ),
        Case(
            [
                replace(
                    "scenario.yaml",
                    "  total: 1.0e+8",
                    "  total: 1.0e+8\n  per_family: {culture: 8.0e+7, heath: 2.0e+7}",
                )
            ]
        ),
        Case(
            [
                append(
                    "scenario.yaml", "objective:\n  kind: equity\n  equity: {group: mountain, compare: group_vs_rest}\n"
                )
            ]
        ),
        Case([append("scenario.yaml", "objective:\n  kind: equity\n  equity: {compare: group_vs_rest}\n")]),
    ],
    "Group column not yes/no": [
        Case(
            [
                lambda root: (
                    admin_units()
                    .assign(mountain=["no", "no", "maybe"])
                    .to_file(root / "data" / "region.gpkg", layer="admin_units")
                ),
                append(
                    "scenario.yaml", "objective:\n  kind: equity\n  equity: {group: mountain, compare: group_vs_rest}\n"
                ),
            ]
        ),
    ],
    "Population group missing": [
        Case([replace("catalogue.yaml", "    cost: 1.0e+7\n", "    cost: 1.0e+7\n    serves: elderly\n")])
    ],
    "Site kind unknown": [
        Case([replace("catalogue.yaml", "    cost: 5.0e+7\n", "    cost: 5.0e+7\n    sites: [city_seat]\n")]),
        Case(
            [
                replace("catalogue.yaml", "    cost: 5.0e+7\n", "    cost: 5.0e+7\n    sites: [seat]\n"),
                replace("catalogue.yaml", "    cost: 1.0e+7\n", "    cost: 1.0e+7\n    sites: [seat]\n"),
                replace("data/sites.csv", "s3,seat", "s3,Seat"),
            ]
        ),
    ],
    "Required or forbidden site invalid": [
        Case([append("scenario.yaml", "sites:\n  required:\n    - {site_id: s9, facility_type: library}\n")]),
        Case([append("scenario.yaml", "sites:\n  required:\n    - {site_id: s1}\n")]),
        Case(
            [
                append(
                    "scenario.yaml",
                    "sites:\n  required: [{site_id: s1, facility_type: library}]\n  forbidden: [{site_id: s1}]\n",
                )
            ]
        ),
        Case(
            [
                replace("catalogue.yaml", "    cost: 1.0e+7\n", "    cost: 1.0e+7\n    sites: [seat]\n"),
                replace("data/sites.csv", "s2,seat", "s2,grid"),
                append("scenario.yaml", "sites:\n  required: [{site_id: s2, facility_type: clinic}]\n"),
            ]
        ),
    ],
    "Negative weight": [Case([append("scenario.yaml", "objective:\n  weights: {clinic: -1}\n")])],
    "Budget below the cost of required sites": [
        Case(
            [
                append(
                    "scenario.yaml",
                    "sites:\n  required:\n    - {site_id: s1, facility_type: library}\n"
                    "    - {site_id: s2, facility_type: library}\n"
                    "    - {site_id: s3, facility_type: library}\n",
                )
            ]
        ),
    ],
    # ------------------------------------------------------------- planning and solving
    "Model too large for memory": [
        Case([append("scenario.yaml", "limits:\n  max_memory_gb: 0.05\n")]),
        # demand x sites could exceed 1 KiB: the coverage pairs are counted before they are computed
        Case([append("scenario.yaml", "limits:\n  max_memory_gb: 1.0e-6\n")]),
    ],
    "Hard standard without a site to meet it": [
        Case([replace("data/sites.csv", "s1,seat,119.6,29.6\n", "")]),
        # 12 standards without a site: summarised by level, type and parent unit
        Case(
            [townships(), replace("scenario.yaml", "county: {required: [library]}", "township: {required: [library]}")]
        ),
    ],
    "Hard standards cost more than the budget": [
        Case([replace("scenario.yaml", "total: 1.0e+8", "total: 6.0e+7")]),
        Case([replace("scenario.yaml", "  total: 1.0e+8", "  total: 1.0e+9\n  per_family: {culture: 7.0e+7}")]),
        Case(
            [
                replace(
                    "scenario.yaml",
                    "  total: 1.0e+8",
                    "  total: 1.0e+9\n  per_unit: [{levels: county, amount: 1.0e+8, overrides: {c1: 4.0e+7}}]",
                )
            ]
        ),
    ],
    "No plan satisfies the constraints": [
        # d2 and d3 are 5.5 and 11 km from the nearest site: a 5-km clinic cannot reach them.
        Case(
            [
                replace("scenario.yaml", "  mode: hard", "  mode: soft"),
                append("scenario.yaml", "objective:\n  kind: min_cost\n  coverage_targets: {clinic: 1.0}\n"),
                replace("catalogue.yaml", "service: {distance_km: 20}", "service: {distance_km: 5}"),
            ],
            commands=("run",),
        ),
        # Covering d2 and d3 takes two clinics (20,000,000 yuan); the budget is 15,000,000.
        Case(
            [
                replace("scenario.yaml", "  mode: hard", "  mode: soft"),
                replace("scenario.yaml", "total: 1.0e+8", "total: 1.5e+7"),
                append("scenario.yaml", "objective:\n  kind: min_cost\n  coverage_targets: {clinic: 1.0}\n"),
            ],
            commands=("run",),
        ),
    ],
    "No plan found within the time limit": [
        Case([replace("scenario.yaml", "time_limit: 10", "time_limit: 1.0e-9")], commands=("run",)),
    ],
    "Solver failed": [Case(commands=("run",), patch=solver_fails)],
    "Solver not installed": [Case([replace("scenario.yaml", "  time_limit: 10", "  name: cbc")], patch=cbc_missing)],
    # ------------------------------------------------------------- phased plans (periods:)
    "Periods do not fit together": [
        Case([append("scenario.yaml", PERIODS.replace("start: 2031", "start: 2029"))]),
        Case([append("scenario.yaml", PERIODS + "  standards_deadline: p3\n")]),
        Case([append("scenario.yaml", PERIODS + "  closures: {school: {value: 1.0e+6}}\n")]),
        Case([append("scenario.yaml", PERIODS + "objective: {kind: access}\n")]),
    ],
    "Population projection unusable": [
        Case([append("scenario.yaml", PERIODS + "  population: data/projection.csv\n")]),
        Case(
            [
                append("scenario.yaml", PERIODS + "  population: data/projection.csv\n"),
                write("data/projection.csv", "unit_id,group,year,people\nc1,all,2020,100\n"),
            ]
        ),
        Case(
            [
                append("scenario.yaml", PERIODS + "  population: data/projection.csv\n"),
                write("data/projection.csv", "unit_id,group,year,population\nc1,all,2020,100\nc1,all,2040,90\n"),
            ]
        ),
        Case(
            [
                append("scenario.yaml", PERIODS + "  population: data/projection.csv\n"),
                write(
                    "data/projection.csv",
                    "unit_id,group,year,population\nc1,all,2020,100\nc1,all,2030,90\n"
                    "c2,all,2020,500\nc2,all,2030,400\n",
                ),
            ]
        ),
    ],
    # ------------------------------------------------------------- output folder
    "Output folder holds an input": [
        Case(commands=("run",), extra=("--out", ".")),
        Case(commands=("run",), extra=("--out", "data")),
        Case([shapefile_folder], commands=("run",), extra=("--out", "data/admin_shp/results")),
    ],
    "Output path is a file": [
        Case([write("notes.txt", "my notes\n")], commands=("run",), extra=("--out", "notes.txt"))
    ],
    "Output folder is not empty and not a result": [
        Case([write("my-documents/plan.docx", "draft\n")], commands=("run",), extra=("--out", "my-documents")),
    ],
    "Internal error": [Case(commands=("run",), patch=internal_bug, code=1)],
}

# ------------------------------------------------------------- travel times (impedance)
OD = "origin,destination,km\nd1,s1,15\nd2,s2,14\nd3,s3,11\nd1,f1,0\n"
OD_IMPEDANCE = append("scenario.yaml", "impedance:\n  kind: od_matrix\n  path: data/od.csv\n")


def od(text: str) -> list[Edit]:
    return [write("data/od.csv", text), OD_IMPEDANCE]


def road_layer_without_speed(root: Path) -> None:
    gpd.GeoDataFrame({"name": ["a"]}, geometry=[shapely.LineString([(119.5, 29.5), (121.5, 29.5)])], crs=4326).to_file(
        root / "data" / "roads.gpkg"
    )


CASES.update(
    {
        "Impedance file not found": [Case([OD_IMPEDANCE])],
        "Impedance settings invalid": [
            Case([append("scenario.yaml", "impedance:\n  kind: od_matrix\n")]),
            Case([append("scenario.yaml", "impedance:\n  kind: osrm\n")]),
            Case(
                [
                    append(
                        "scenario.yaml",
                        "impedance:\n  kind: network\n  path: data/roads.gpkg\n  speeds: {primary: 0}\n",
                    )
                ]
            ),
            Case(
                [append("scenario.yaml", "impedance:\n  by_type:\n    clinc: {kind: od_matrix, path: data/od.csv}\n")]
            ),
        ],
        "OD matrix column missing": [Case(od(OD.replace("origin,", "from,"))), Case(od(OD.replace(",km", ",dist")))],
        "OD matrix value unusable": [
            Case(od(OD.replace("d2,s2,14", "d2,s2,-14"))),
            Case(od(OD.replace("d2,s2,14", "d2,s2,"))),
            Case(od(OD.replace("d2,s2,14", "d2,s2,14 km"))),
        ],
        "OD matrix ID unknown or ambiguous": [
            Case(od(OD.replace("d2,s2", "d4,s2"))),
            Case(od(OD.replace("d2,s2", "d2,s5"))),
            Case([*od(OD), replace("data/facilities.csv", "f1,clinic", "s1,clinic")]),
            Case([*od(OD), *COMPETITORS, write("data/competitors.csv", COMPETITOR_HEAD + "s1,clinic,,121.4,29.6\n")]),
        ],
        "OD matrix pair given twice": [Case(od(OD + "d2,s2,13\n"))],
        "OD matrix reaches no demand": [Case(od("origin,destination,km\nd1,s1,45\nd2,s2,44\nd3,s3,41\nd1,f1,40\n"))],
        "OD matrix lacks the unit of a standard": [
            Case(od(OD.replace(",km", ",minutes"))),
            Case(
                [
                    *od(OD.replace(",km", ",minutes")),
                    replace("catalogue.yaml", "service: {distance_km: 20}", "service: {minutes: 30, speed_kmh: 40}"),
                    replace("catalogue.yaml", "service: {distance_km: 30}", "service: {minutes: 45, speed_kmh: 40}"),
                    append("scenario.yaml", "objective:\n  kind: attendance\n  attendance: {cutoff_km: 10}\n"),
                ]
            ),
        ],
        "Road network unreadable": [
            Case(
                [
                    write("data/roads.osm.pbf", b"not a pbf"),
                    append("scenario.yaml", "impedance:\n  kind: network\n  path: data/roads.osm.pbf\n"),
                ]
            ),
            Case(
                [
                    road_layer_without_speed,
                    append("scenario.yaml", "impedance:\n  kind: network\n  path: data/roads.gpkg\n"),
                ]
            ),
        ],
    }
)

# ------------------------------------------------------------- terrain impedance (relief grid)
TERRAIN_IMPEDANCE = append("scenario.yaml", "impedance:\n  kind: terrain\n  path: data/relief.npz\n")


def relief_npz(**arrays: np.ndarray) -> bytes:
    """An .npz relief grid as bytes (lon, lat, elevation as given)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


LON_EAST, LAT_SOUTH = np.linspace(121.0, 121.5, 3), np.linspace(29.0, 29.5, 3)
CASES["Impedance settings invalid"] += [
    Case([append("scenario.yaml", "impedance:\n  kind: terrain\n  path: data/relief.npz\n  mountain_relief_m: 30\n")]),
    Case([append("scenario.yaml", "impedance:\n  kind: terrain\n  path: data/relief.npz\n  relief_window_cells: 4\n")]),
]
CASES["Relief grid unusable"] = [
    Case([TERRAIN_IMPEDANCE]),
    Case([write("data/relief.npz", relief_npz(lon=LON_EAST, lat=LAT_SOUTH)), TERRAIN_IMPEDANCE]),
    Case(
        [
            write("data/relief.npz", relief_npz(lon=LON_EAST, lat=LAT_SOUTH, elevation=np.zeros((3, 3)))),
            TERRAIN_IMPEDANCE,
        ]
    ),
]

CASE_IDS = [(title, i) for title, cases in CASES.items() for i in range(len(cases))]


def test_every_case_has_a_docs_example_and_every_example_a_case():
    """docs/errors.md and CASES list the same entries (scenario, planning, output sections)."""
    for title, cases in CASES.items():
        assert title in DOC, f"docs/errors.md has no entry {title!r}"
        assert len(DOC[title]) == len(cases), (title, DOC[title])
    loader = loader_headings() | command_headings()
    # "Errors": the format line of the introduction; "Interrupted": test_interrupt_* below.
    undocumented_here = set(DOC) - set(CASES) - loader - {"Errors", "Interrupted"}
    assert not undocumented_here, f"entries without a CLI test: {sorted(undocumented_here)}"


def command_headings() -> set[str]:
    """Headings of the sections on other commands ("## … (`regionopt sweep`)"), tested in test_errors_commands.py."""
    sections = DOCS.read_text(encoding="utf-8").split("\n## ")[1:]
    return {
        line.lstrip("#").strip()
        for section in sections
        if "(`regionopt " in section.split("\n", 1)[0]
        for line in section.splitlines()
        if line.startswith("#### ")
    }


def loader_headings() -> set[str]:
    """Headings of the "Loading region files" section (tested in test_io.py and by test_loader_faults_via_cli)."""
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("## Loading region files", 1)[1].split("\n## ", 1)[0]
    return {line.lstrip("#").strip() for line in section.splitlines() if line.startswith("#### ")}


@pytest.mark.parametrize("title,index", CASE_IDS, ids=[f"{t}-{i}" for t, i in CASE_IDS])
def test_documented_error(title: str, index: int, planning: Path, monkeypatch: pytest.MonkeyPatch):
    case = CASES[title][index]
    expected = DOC[title][index]
    for edit in case.edits:
        edit(planning)
    if case.patch:
        case.patch(monkeypatch, planning)
    before = snapshot(planning)
    runs = [[command, case.config, *(case.extra if command == "run" else ())] for command in case.commands]
    if "run" in case.commands and not case.extra:  # also into a folder that does not exist yet
        runs.append(["run", case.config, "--out", "fresh/results"])
    for args in runs:
        result, message = invoke(args, planning)
        assert_clean_failure(result, message, expected, case.code)
        # Nothing written: inputs, the earlier result in reports/toy, no new (fresh/) or temporary folders.
        assert snapshot(planning) == before


# ----------------------------------------------------------------------------- region faults through the CLI
# (fault, expected message, docs heading in "Loading region files"); the loader's
# own unit tests are in test_io.py.
LOADER_FAULTS = [
    (
        [replace("scenario.yaml", "demand: data/demand.csv", "demand: data/demnd.csv")],
        "error: data/demnd.csv: file not found Hint: check the path; did you mean 'data/demand.csv'?",
        "File not found",
    ),
    (
        [write("data/demand.xlsx", "PK"), replace("scenario.yaml", "data/demand.csv", "data/demand.xlsx")],
        "error: data/demand.xlsx: spreadsheets (.xlsx) cannot be read Hint: save the sheet as 'CSV UTF-8' with "
        "lon/lat columns, or export a GeoPackage from your GIS",
        "Spreadsheet given",
    ),
    (
        [write("data/sites.gpkg", b"not a geopackage"), replace("scenario.yaml", "data/sites.csv", "data/sites.gpkg")],
        "error: data/sites.gpkg: cannot read this file as geodata",
        "Unreadable or corrupt geodata file",
    ),
    (
        [
            lambda root: _write_without_crs(root / "data" / "admin.shp"),
            replace("scenario.yaml", "{path: data/region.gpkg, layer: admin_units}", "data/admin.shp"),
        ],
        "error: data/admin.shp: the layer has no coordinate reference system (CRS) Hint: set the CRS in your GIS "
        "(QGIS: Layer ▸ Set CRS) or pass crs=, e.g. crs='EPSG:4326' if the coordinates are longitude/latitude",
        "No CRS",
    ),
    (
        [replace("data/demand.csv", "d2,200,121.5,29.5", "d2,200,29.5,121.5")],
        "error: data/demand.csv, row 2, field 'lat': latitude 121.5 is outside [-90, 90] but longitude 29.5 would "
        "be a valid latitude: longitude and latitude look swapped Hint: swap the two columns, or pass lon='lat', lat='lon'",
        "Longitude and latitude swapped (out of range)",
    ),
    (
        [replace("data/sites.csv", "s3,seat,120.8,30.4", "s3,seat,30.4,50.8")],
        "error: data/sites.csv, row 3, field 'geometry': the point (30.4, 50.8) is 7,315 km outside the region's admin "
        "units Hint: check this row's coordinates and the layer's CRS (points must lie within 10 km of an admin unit)",
        "Point far outside the region",
    ),
    (
        [replace("data/demand.csv", "d3,300,120.8,30.5", "d3,300,116.4,39.9")],
        "error: data/demand.csv, row 3, field 'geometry': the point (116.4, 39.9) is 1,015 km outside the region's "
        "admin units Hint: check this row's coordinates and the layer's CRS (points must lie within 10 km of an admin unit)",
        "Point far outside the region",
    ),
    (
        [replace("data/demand.csv", "d3,300", "d1,300")],
        "error: data/demand.csv, row 3, field 'demand_id': demand_id 'd1' is used twice (rows 1 and 3) "
        "Hint: IDs must be unique within the demand layer",
        "Duplicate ID",
    ),
    (
        [
            write(
                "data/demand.csv",
                "demand_id,population,lon,lat,population\nd1,100,119.5,29.5,1\n"
                "d2,200,121.5,29.5,2\nd3,300,120.8,30.5,3\n",
            )
        ],
        "error: data/demand.csv, field 'population': column 'population' appears twice (columns 2 and 5) "
        "Hint: rename or delete one of them, so that it is clear which one holds the data",
        "Column name given twice",
    ),
    (
        [replace("data/demand.csv", "d2,200", "d2,")],
        "error: data/demand.csv, row 2, field 'population': population is missing "
        "Hint: fill in the number of residents (0 if there are none)",
        "Missing number",
    ),
    (
        [replace("data/demand.csv", "d2,200", "d2,NaN")],
        "error: data/demand.csv, row 2, field 'population': population is missing "
        "Hint: fill in the number of residents (0 if there are none)",
        "Missing number",
    ),
    (
        [replace("data/demand.csv", "d2,200", "d2,-200")],
        "error: data/demand.csv, row 2, field 'population': population is negative (-200) "
        "Hint: the number of residents must be 0 or more",
        "Negative number",
    ),
    (
        [replace("data/demand.csv", "d2,200", "d2,about 200")],
        "error: data/demand.csv, row 2, field 'population': population must be a number, got 'about 200' "
        "Hint: write plain numbers: '.' as the decimal point, no thousands separators or units",
        "Not a number",
    ),
    (
        [replace("data/sites.csv", "s2,seat,121.4,29.6", "s2,seat,,")],
        "error: data/sites.csv, row 2, field 'lon': longitude is missing Hint: every candidate site needs a location; "
        "fill in its coordinates or remove the row",
        "Point without a location",
    ),
    (
        [
            lambda root: (
                admin_units()
                .assign(
                    geometry=[
                        shapely.box(119, 28, 122, 31),
                        shapely.box(119, 28, 120.5, 31),
                        shapely.Polygon([(120.5, 28), (122, 31), (122, 28), (120.5, 31)]),
                    ]
                )
                .to_file(root / "data" / "region.gpkg", layer="admin_units")
            )
        ],
        "error: data/region.gpkg, row 3, field 'geometry': layer 'admin_units': geometry is invalid "
        "(Self-intersection[121.25 29.5]) Hint: "
        "repair it in your GIS (QGIS: Vector ▸ Geometry Tools ▸ Fix Geometries) or with GeoSeries.make_valid(), then "
        "check the result",
        "Invalid polygon",
    ),
    (
        [replace("data/demand.csv", "d3,300,120.8,30.5", "d3,300,122.05,29.5")],
        "error: data/demand.csv, row 3, field 'geometry': the point (122.05, 29.5) is not inside any admin unit "
        "(nearest: 'c2', 4.8 km away) Hint: fix the coordinates, give this row a unit_id, or pass snap_distance= "
        "(metres) to assign points just outside a boundary to the nearest unit",
        "Point inside no admin unit",
    ),
]


@pytest.mark.parametrize(
    "edits,expected,heading", LOADER_FAULTS, ids=[f"{h}-{i}" for i, (_, _, h) in enumerate(LOADER_FAULTS)]
)
def test_loader_faults_via_cli(edits, expected, heading, planning: Path):
    for edit in edits:
        edit(planning)
    before = snapshot(planning)
    for command in ("run", "validate"):
        result, message = invoke([command, "scenario.yaml"], planning)
        assert "Traceback" not in result.output and result.exit_code == 2, result.output
        # GDAL's own reason for an unreadable file varies between versions: compare up to it.
        assert message == expected or (expected.endswith("geodata") and message.startswith(expected + " (")), message
        assert snapshot(planning) == before
    # The message (after "error: <location>: ", before "Hint:") is the one documented under `heading`.
    text = expected.removeprefix("error: ").split(": ", 1)[1].split(" Hint: ")[0]
    text = re.sub(r"^layer '[^']*': ", "", text)  # the layer prefix of multi-layer files (see the docs' intro)
    assert heading in loader_headings()
    assert any(shape(text) in shape(ex) for ex in DOC[heading]), (heading, text)


# ----------------------------------------------------------------------------- hard standards: a hand-computed shortfall
def test_hard_standard_shortfall_by_hand(planning: Path):
    """Two libraries per county; East has one already; a clinic is required at s2; a second West site s4.

    Cheapest way to meet the standards: West 2 x 50M + East 1 x 50M + required clinic 10M = 160M;
    with a budget of 150M the shortfall is 10M. Requiring a library at s1 instead makes it count for
    West's standard: 3 x 50M = 150M, which fits exactly (no double counting).
    """
    replace("scenario.yaml", "county: {required: [library]}", "county: {required: {library: 2}}")(planning)
    replace("scenario.yaml", "total: 1.0e+8", "total: 1.5e+8")(planning)
    append("data/facilities.csv", "f2,library,East library,121.5,29.5\n")(planning)
    append("data/sites.csv", "s4,seat,119.8,29.9\n")(planning)
    base = (planning / "scenario.yaml").read_text()
    (planning / "scenario.yaml").write_text(base + "sites:\n  required: [{site_id: s2, facility_type: clinic}]\n")
    result, message = invoke(["validate", "scenario.yaml"], planning)
    assert result.exit_code == 2
    assert message == (
        "error: scenario.yaml: no plan can meet the hard standards within the budget Hint: raise the budget or cap "
        "by the shortfall, or make the standards soft (standards.mode: soft)\n"
        "  - meeting every hard standard costs at least 160,000,000 yuan (with the required sites); "
        "the budget is 150,000,000 yuan — short by 10,000,000 yuan\n"
        "  - standard 'library' in West (c1, county): 2 missing, 100,000,000 yuan\n"
        "  - standard 'library' in East (c2, county): 1 missing, 50,000,000 yuan"
    )
    (planning / "scenario.yaml").write_text(base + "sites:\n  required: [{site_id: s1, facility_type: library}]\n")
    result, _ = invoke(["validate", "scenario.yaml"], planning)
    assert result.exit_code == 0, result.output
    result, _ = invoke(["run", "scenario.yaml", "--out", "new", "--no-maps", "--no-report"], planning)
    assert result.exit_code == 0, result.output
    chosen = json.loads((planning / "new" / "solution.json").read_text())["chosen_sites"]
    assert sorted((c["site_id"], c["facility_type"]) for c in chosen) == [
        ("s1", "library"),
        ("s2", "library"),
        ("s4", "library"),
    ] or sorted((c["site_id"], c["facility_type"]) for c in chosen) == [
        ("s1", "library"),
        ("s3", "library"),
        ("s4", "library"),
    ]


# ----------------------------------------------------------------------------- random regions written as files
def write_random_planning(
    root: Path, *, n: int, m: int, km: float, sites_in_budget: int, seed: int = 0, time_limit: float = 60
) -> Path:
    """A random region in the two toy counties (UTM 51N): n demand points, m candidate sites, one clinic type."""
    import numpy as np
    import pandas as pd
    from toy import X0, Y0, two_county_units

    rng = np.random.default_rng(seed)
    (root / "data").mkdir(parents=True, exist_ok=True)
    two_county_units().reset_index().to_file(root / "data" / "region.gpkg", layer="admin_units")
    for name, count, id_col in (("demand", n, "demand_id"), ("sites", m, "site_id")):
        xy = rng.random((count, 2)) * [40_000, 20_000] + [X0, Y0]
        pts = gpd.GeoSeries(gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=32651).to_crs(4326)
        frame = pd.DataFrame(
            {id_col: [f"{name[0]}{i}" for i in range(count)], "lon": pts.x.round(7), "lat": pts.y.round(7)}
        )
        if name == "demand":
            frame.insert(1, "population", rng.integers(1, 1000, count))
        frame.to_csv(root / "data" / f"{name}.csv", index=False)
    (root / "scenario.yaml").write_text(
        textwrap.dedent(f"""\
        name: random
        region:
          name: Random
          admin_units: {{path: data/region.gpkg, layer: admin_units}}
          demand: data/demand.csv
          candidates: data/sites.csv
        catalogue:
          facility_types:
            clinic: {{family: health, cost: 10, service: {{distance_km: {km}}}}}
        budget: {{total: {10 * sites_in_budget}}}
        solver: {{time_limit: {time_limit}}}
        """)
    )
    return root / "scenario.yaml"


class _StopEarly(_InterruptibleHiGHS):
    """HiGHS stopping at its first improving plan, without presolve: a deterministic stand-in for a time limit."""

    def __init__(self, **kwargs):
        super().__init__(presolve="off", mip_max_improving_sols=1, **kwargs)


def test_time_limit_plan_is_marked_not_optimal_everywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A plan the solver could not prove optimal is written, with its gap, and called NOT optimal everywhere."""
    root = tmp_path.resolve()
    write_random_planning(root, n=400, m=60, km=6, sites_in_budget=5)
    monkeypatch.chdir(root)
    monkeypatch.setattr(optimizer.solvers.highs, "_InterruptibleHiGHS", _StopEarly)
    monkeypatch.setattr(
        optimizer.planning.model, "lp_guided_pays", lambda model, mip_gap=None: False
    )  # the plain solve stops
    result = CliRunner().invoke(main, ["run", "scenario.yaml", "--out", "out"])
    assert result.exit_code == 0, result.output
    status_line = next(line for line in result.stdout.splitlines() if line.startswith("status"))
    doc_line = next(line for line in DOCS.read_text().splitlines() if line.startswith("status     FEASIBLE"))
    reason = re.compile(r"\(([^)]*)\);")  # the solver's reason: "Time limit reached" in the docs
    assert shape(reason.sub("(R);", status_line)) == shape(reason.sub("(R);", doc_line)), status_line
    assert "NOT proven optimal" in status_line and "Solution limit reached" in status_line
    solution = json.loads((root / "out" / "solution.json").read_text())
    assert solution["status"] == "feasible" and solution["optimal"] is False
    assert 0 < solution["gap"] < 1
    assert f"proven gap {solution['gap']:.2%}" in status_line
    assert solution["budget"]["used"] <= solution["budget"]["total"]
    manifest = json.loads((root / "out" / "manifest.json").read_text())
    assert manifest["status"] == "feasible" and manifest["gap"] == solution["gap"]
    report = (root / "out" / "index.html").read_text(encoding="utf-8")
    status_html = re.search(r'id="solver-status"[^>]*>(.*?)</p>', report, re.S).group(1)
    assert "NOT proven optimal" in status_html and f"{solution['gap']:.2%}" in status_html


def test_cbc_from_the_path_when_the_bundled_binary_cannot_run(
    planning: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """solver.name: cbc uses a 'cbc' on the PATH when PuLP's bundled binary is not executable."""
    bundled = pulp.PULP_CBC_CMD(msg=False).path
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "cbc").symlink_to(bundled)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setattr(pulp.PULP_CBC_CMD, "available", lambda self: False)
    _VERSION_CACHE.clear()
    replace("scenario.yaml", "  time_limit: 10", "  name: cbc")(planning)
    result, _ = invoke(["run", "scenario.yaml", "--out", "cbc-run", "--no-maps", "--no-report"], planning)
    assert result.exit_code == 0, result.output
    solution = json.loads((planning / "cbc-run" / "solution.json").read_text())
    assert solution["solver"]["name"] == "cbc" and solution["status"] == "optimal"
    _VERSION_CACHE.clear()


# ----------------------------------------------------------------------------- paths and output folders
def test_relative_paths_resolve_against_the_scenario_file(
    planning: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    append("scenario.yaml", "outputs:\n  dir: results\n  maps: false\n  report: false\n")(planning)
    result = CliRunner().invoke(main, ["run", "../planning/scenario.yaml"])
    assert result.exit_code == 0, result.output
    assert (planning / "results" / "solution.json").is_file()  # outputs.dir is relative to the scenario
    assert not any(elsewhere.iterdir())
    # A second run replaces the earlier result as a whole, leaving nothing beside it.
    first = snapshot(planning / "results")
    result = CliRunner().invoke(main, ["run", "../planning/scenario.yaml"])
    assert result.exit_code == 0, result.output
    assert set(snapshot(planning / "results")) == set(first)
    assert not [p for p in planning.iterdir() if p.name.startswith(".")]


def test_output_folder_refused_before_solving(planning: Path, monkeypatch: pytest.MonkeyPatch):
    """An unsafe --out is refused before the model is built (no time spent solving)."""
    import optimizer.planning.model

    def must_not_run(self):
        raise AssertionError("the model was built although the output folder is unusable")

    monkeypatch.setattr(optimizer.planning.model.PlanningModel, "prepare", must_not_run)
    result, message = invoke(["run", "scenario.yaml", "--out", "data"], planning)
    assert result.exit_code == 2 and message == DOC["Output folder holds an input"][1]


# ----------------------------------------------------------------------------- security
def test_no_eval_exec_or_shell_in_the_package():
    """No eval/exec, no shell, no unsafe YAML or pickle anywhere in optimizer/."""
    import ast

    bad = []
    for path in sorted((ROOT / "optimizer").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = ast.unparse(node.func)
            if name in (
                "eval",
                "exec",
                "os.system",
                "os.popen",
                "yaml.load",
                "yaml.unsafe_load",
                "yaml.full_load",
                "pickle.load",
                "pickle.loads",
                "compile",
                "__import__",
            ):
                bad.append(f"{path.name}:{node.lineno} {name}()")
            for kw in node.keywords:
                if kw.arg == "shell" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                    bad.append(f"{path.name}:{node.lineno} {name}(shell=...)")
            if name.startswith("subprocess.") and node.args and not isinstance(node.args[0], (ast.List, ast.Tuple)):
                bad.append(f"{path.name}:{node.lineno} {name} with a command string")
    assert not bad, bad


def test_data_strings_are_escaped_in_maps_and_report(planning: Path):
    """Names from data files are HTML-escaped (or JSON-escaped in scripts) in every written page."""
    payload = "<script>alert('x')</script>"
    img = '<img src=x onerror="alert(1)">'
    units = admin_units()
    units["name"] = ["Province", payload, img]
    units.to_file(planning / "data" / "region.gpkg", layer="admin_units")
    (planning / "data" / "facilities.csv").write_text(
        f'facility_id,facility_type,name,lon,lat\nf1,clinic,"{payload}",119.5,29.5\n'
    )
    (planning / "data" / "sites.csv").write_text(
        SITES.replace("s1,seat", "s1,<b>seat</b>")
        .replace("s2,seat", "s2,<b>seat</b>")
        .replace("s3,seat", "s3,<b>seat</b>")
    )
    replace("scenario.yaml", "title: Toy region", f'title: "{payload}"')(planning)
    result, _ = invoke(["run", "scenario.yaml", "--out", "html"], planning)
    assert result.exit_code == 0, result.output
    pages = [p for p in (planning / "html").rglob("*") if p.suffix in (".html", ".js") and "static" not in p.parts]
    assert any(p.name == "index.html" for p in pages)
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for raw in (payload, img, "<b>seat</b>"):
            assert raw not in text, f"{page.name} contains unescaped {raw!r}"


# ----------------------------------------------------------------------------- interrupts (subprocess)
WRAPPER = """\
import signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)  # a background shell may have set SIGINT to ignored
if {slow_write}:
    import optimizer.results.write as output
    original = output._write_result_gpkg
    def slow(*args, **kwargs):
        original(*args, **kwargs)
        print("WRITING", file=sys.stderr, flush=True)
        time.sleep(60)
    output._write_result_gpkg = slow
if {watch_solve}:
    # Say when HiGHS really is solving, and how its solve ended: the test signals on the first
    # and checks the second (a cancelled solve, not one that ran to its end), with no clock involved.
    import optimizer.solvers.highs as highs
    import optimizer.solvers.highs_bulk as highs_bulk
    run = highs.run_highs_interruptibly
    def watched(h):
        print("SOLVING", file=sys.stderr, flush=True)
        try:
            run(h)
        finally:
            print("HIGHS STATUS: " + h.modelStatusToString(h.getModelStatus()), file=sys.stderr, flush=True)
    highs.run_highs_interruptibly = watched
    highs_bulk.run_highs_interruptibly = watched
from optimizer.cli import main
sys.argv[0] = "regionopt"
main()
"""


def child_pids(pid: int, name: str) -> list[int]:
    """Processes called ``name`` whose parent is ``pid`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            if (
                int(stat[stat.rindex(")") + 1 :].split()[1]) == pid
                and stat[stat.index("(") + 1 : stat.rindex(")")] == name
            ):
                found.append(int(entry.name))
        except (OSError, ValueError):
            continue
    return found


# Generous limits for conditions polled below: they only fail a test that hangs, and must hold
# with both cores busy. No test waits a fixed time.
WAIT_S = 300


def run_and_interrupt(
    args: list[str],
    cwd: Path,
    signum: int,
    marker: str,
    *,
    slow_write: bool = False,
    watch_solve: bool = False,
    children: list[int] | None = None,
) -> tuple[int, str]:
    """Start regionopt, send ``signum`` as soon as ``marker`` appears on stderr; return (code, stderr).

    With ``children`` (a list), the signal waits until regionopt has started a CBC process as well,
    and the list receives the pids of the CBC processes running when the signal was sent.
    """
    import threading

    proc = subprocess.Popen(
        [PYTHON, "-c", WRAPPER.format(slow_write=slow_write, watch_solve=watch_solve), *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True)
    reader.start()
    deadline = time.monotonic() + WAIT_S
    try:
        while not any(marker in line for line in lines) or (children is not None and not child_pids(proc.pid, "cbc")):
            assert proc.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, "".join(lines)
            time.sleep(0.05)
        if children is not None:
            children.extend(child_pids(proc.pid, "cbc"))
        proc.send_signal(signum)
        code = proc.wait(timeout=WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(timeout=WAIT_S)
    return code, "".join(lines)


@pytest.fixture(scope="module")
def slow_template(tmp_path_factory: pytest.TempPathFactory, template: Path) -> Path:
    """A random region whose solve takes HiGHS well over ten seconds, with an earlier result in reports/random."""
    root = tmp_path_factory.mktemp("slow").resolve()
    write_random_planning(root, n=2000, m=300, km=6, sites_in_budget=10)
    shutil.copytree(template / "reports" / "toy", root / "reports" / "random")  # stands in for an earlier result
    return root


@pytest.mark.slow
@pytest.mark.parametrize("signum,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_interrupt_during_solve_writes_nothing(signum, code, slow_template: Path, tmp_path: Path):
    root = tmp_path / "slow"
    shutil.copytree(slow_template, root)
    before = snapshot(root)
    rc, stderr = run_and_interrupt(
        ["run", "scenario.yaml", "--no-maps", "--no-report"], root, signum, "SOLVING", watch_solve=True
    )
    assert rc == code, stderr
    assert "Traceback" not in stderr
    assert error_part(stderr) == DOC["Interrupted"][0]
    # HiGHS was stopped by the interrupt, not left to run to its end (optimal or its 60-s time limit);
    # "Not Set" if the signal landed between the marker and the start of the solve.
    status = [line.split(": ", 1)[1] for line in stderr.splitlines() if line.startswith("HIGHS STATUS: ")]
    assert status and status[-1] in ("Interrupted by user", "Not Set"), stderr
    assert snapshot(root) == before  # the earlier result is intact; no temporary folder


@pytest.mark.parametrize("signum,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_interrupt_while_writing_keeps_the_earlier_result(signum, code, planning: Path):
    before = snapshot(planning)
    rc, stderr = run_and_interrupt(["run", "scenario.yaml"], planning, signum, "WRITING", slow_write=True)
    assert rc == code, stderr
    assert "Traceback" not in stderr
    assert error_part(stderr) == DOC["Interrupted"][0]
    assert snapshot(planning) == before  # reports/toy byte-identical; the .tmp- folder is gone


def test_memory_refused_before_coverage_pairs_are_computed(monkeypatch: pytest.MonkeyPatch):
    """60 million coverage pairs (20,000 demand points x 3,000 sites, 50 km) are counted, not built, then refused."""
    import numpy as np
    from toy import X0, Y0, catalogue, facility_type, make_region

    import optimizer.planning.model
    from optimizer.config.schema import BudgetConfig, LimitsConfig
    from optimizer.errors import ModelTooLargeError
    from optimizer.planning.model import PlanningModel
    from optimizer.scenario import Scenario

    rng = np.random.default_rng(0)
    n, m = 20_000, 3_000
    region = make_region(
        rng.random((n, 2)) * [40_000, 20_000] + [X0, Y0],
        rng.integers(1, 1000, n),
        rng.random((m, 2)) * [40_000, 20_000] + [X0, Y0],
    )
    scenario = Scenario(
        name="big",
        region=region,
        catalogue=catalogue(facility_type("clinic", cost=10, km=50)),
        budget=BudgetConfig(total=100),
        limits=LimitsConfig(max_memory_gb=1),
    )

    def must_not_run(*args, **kwargs):
        raise AssertionError("coverage pairs were computed although they could not fit")

    monkeypatch.setattr(optimizer.planning.model, "coverage_pairs", must_not_run)
    with pytest.raises(ModelTooLargeError) as err:
        PlanningModel(scenario).build()
    assert str(err.value) == (
        "field 'limits.max_memory_gb': the model would need at least 8.4 GiB of memory (60,000,000 coverage pairs "
        "for 'clinic' alone, counted before computing them), more than the 1.0 GiB allowed (limits.max_memory_gb); "
        "nothing was built Hint: shorten service standards, coarsen the demand layer, restrict candidate sites "
        "(facility_types.<type>.sites) or raise limits.max_memory_gb"
    )


@pytest.mark.slow
@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_real_time_limit_never_claims_optimality(
    solver, slow_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A 2-s time limit on a problem that takes HiGHS over ten seconds to prove: a plan marked NOT optimal
    (or, on a very slow machine, the documented "found no plan" error) — never "optimal"."""
    root = tmp_path / "slow"
    shutil.copytree(slow_template, root)
    replace("scenario.yaml", "time_limit: 60", f"time_limit: 2, name: {solver}")(root)
    monkeypatch.chdir(root)
    result = CliRunner().invoke(main, ["run", "scenario.yaml", "--out", "limited", "--no-maps", "--no-report"])
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        assert "found no plan within the time limit of 2 s" in result.stderr
        return
    assert result.exit_code == 0, result.output
    status_line = next(line for line in result.stdout.splitlines() if line.startswith("status"))
    assert "NOT proven optimal" in status_line, status_line
    solution = json.loads((root / "limited" / "solution.json").read_text())
    assert solution["status"] == "feasible" and solution["optimal"] is False and solution["solver"]["name"] == solver
    assert solution["budget"]["used"] <= solution["budget"]["total"]


def test_debug_shows_the_traceback(planning: Path):
    replace("scenario.yaml", "  total: 1.0e+8", "  totl: 1.0e+8")(planning)
    result = CliRunner().invoke(main, ["--debug", "validate", "scenario.yaml"])
    from optimizer.errors import ConfigError

    assert isinstance(result.exception, ConfigError) and result.exception.field == "budget.totl"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds CBC processes through /proc")
def test_sigterm_during_a_cbc_solve_stops_cbc_too(slow_template: Path, tmp_path: Path):
    root = tmp_path / "slow"
    shutil.copytree(slow_template, root)
    replace("scenario.yaml", "time_limit: 60", "time_limit: 60, name: cbc")(root)
    before = snapshot(root)
    cbc: list[int] = []
    rc, stderr = run_and_interrupt(
        ["run", "scenario.yaml", "--no-maps", "--no-report"],
        root,
        signal.SIGTERM,
        "solve and evaluate ...",
        children=cbc,
    )
    assert rc == 143 and error_part(stderr) == DOC["Interrupted"][0], stderr
    assert cbc, "CBC was not running when the signal was sent"

    def running(pid: int) -> bool:  # a terminated child may linger as a zombie ('Z') until it is reaped
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        return stat[stat.rindex(")") + 2] not in "ZX"

    deadline = time.monotonic() + WAIT_S
    while [pid for pid in cbc if running(pid)] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in cbc if running(pid)], "CBC is still running"
    assert snapshot(root) == before


# ----------------------------------------------------------------------------- diagnoses that fit on a screen
HARD_NO_SITE = DOC["Hard standard without a site to meet it"][1].split("\n")[0]


def test_validate_details_lists_every_standard(planning: Path):
    """The summarised diagnosis of the docs (2 lines for 12 standards); --details lists all 12, one per line."""
    townships()(planning)
    replace("scenario.yaml", "county: {required: [library]}", "township: {required: [library]}")(planning)
    result, message = invoke(["validate", "scenario.yaml", "--details"], planning)
    assert result.exit_code == 2
    missing = [f"c1-{k}" for k in range(1, 13) if k != 7] + ["c2-1"]
    names = {f"c1-{k}": f"West {k}" for k in range(1, 13)} | {"c2-1": "East 1"}
    assert message == "\n".join(
        [HARD_NO_SITE]
        + [
            f"  - standard 'library' in {names[u]} ({u}, township) needs 1 more, but only 0 candidate site(s) there may host one"
            for u in missing
        ]
    )
    result, message = invoke(["validate", "scenario.yaml"], planning)
    assert message == DOC["Hard standard without a site to meet it"][1]


def test_diagnosis_is_capped_at_ten_lines():
    """25 counties x 2 townships without sites: 25 group lines -> 10 and '… and 15 more'; details: all 50."""
    import pandas as pd

    from optimizer.planning.diagnose import DIAGNOSIS_LIMIT, summarise_standards
    from optimizer.scenario import Standard

    counties = [f"k{i:02d}" for i in range(25)]
    towns = [(f"{c}-{j}", c) for c in counties for j in (1, 2)]
    units = pd.DataFrame(
        {
            "name": [f"County {c}" for c in counties] + [f"Town {t}" for t, _ in towns],
            "parent_id": [None] * 25 + [c for _, c in towns],
        },
        index=counties + [t for t, _ in towns],
    )
    items = [(Standard(t, "township", "library", 1, True, 0.0), t) for t, _ in towns]
    lines = summarise_standards(
        items,
        units,
        one=lambda std, p: f"one {p}",
        many=lambda plural, parent, t, g: f"{len(g)} {plural} of {parent} lack {t}",
    )
    assert DIAGNOSIS_LIMIT == 10
    assert lines == [f"2 townships of County {c} ({c}) lack library" for c in counties[:10]] + [
        "… and 15 more such lines (regionopt validate --details lists every standard)"
    ]
    full = summarise_standards(items, units, one=lambda std, p: f"one {p}", many=lambda *a: "", details=True)
    assert full == [f"one {t}" for t, _ in towns]
    few = summarise_standards(items[:10], units, one=lambda std, p: f"one {p}", many=lambda *a: "group")
    assert few == [f"one {t}" for t, _ in towns[:10]]  # up to ten standards: one line each, never grouped


# ----------------------------------------------------------------------------- facility types: nothing dropped silently
def test_ignored_facility_types_are_left_out_and_the_rest_counts(planning: Path):
    """A gym is left out only when asked; an existing East library spelt right counts for East's standard."""
    append("data/facilities.csv", "f2,library,East library,121.5,29.5\nf3,gym,East gym,121.5,29.5\n")(planning)
    result, message = invoke(["validate", "scenario.yaml"], planning)
    assert result.exit_code == 2 and "facility type 'gym' is not in the catalogue" in message
    append("scenario.yaml", "ignore_facility_types: [gym]\n")(planning)
    result, _ = invoke(["run", "scenario.yaml", "--out", "ok", "--no-maps", "--no-report"], planning)
    assert result.exit_code == 0, result.output
    solution = json.loads((planning / "ok" / "solution.json").read_text())
    chosen = {(c["site_id"], c["facility_type"]) for c in solution["chosen_sites"]}
    assert ("s1", "library") in chosen  # West's standard: no library there
    assert ("s2", "library") not in chosen  # East has one already (f2, beside s2): no second one next to it
    import pandas as pd

    standards = pd.read_csv(planning / "ok" / "standards.csv")
    east = standards[(standards["unit_id"] == "c2") & (standards["facility_type"] == "library")]
    assert east["have_before"].tolist() == [1]


def test_unknown_facility_type_in_code_names_the_id():
    """A region built in code: the error names the facility's ID (no file)."""
    import pandas as pd
    from toy import catalogue, facility_type

    from optimizer.catalogue import check_facility_types
    from optimizer.errors import ConfigError

    cat = catalogue(facility_type("library", cost=1, km=1))
    facilities = pd.DataFrame({"facility_type": ["library", "Library"]}, index=pd.Index(["a", "b"], name="facility_id"))
    with pytest.raises(ConfigError) as err:
        check_facility_types(cat, facilities)
    assert str(err.value) == (
        "ID 'b', field 'facility_type': facility type 'Library' is not in the catalogue, so 1 existing facility of "
        "this type would count for nothing Hint: did you mean 'library'? Correct the value in the file, or list the "
        "type under ignore_facility_types in the scenario to leave these facilities out"
    )
    check_facility_types(cat, facilities, ignored=["Library"])  # asked for: no error


# ----------------------------------------------------------------------------- every error says where and what to do
def test_root_or_home_output_folder_has_a_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from optimizer.errors import OutputError
    from optimizer.results.write import check_output_dir

    home = (tmp_path / "home").resolve()
    home.mkdir()
    monkeypatch.setattr(Path, "home", classmethod(lambda cls: home))
    for folder in (home, Path("/")):
        with pytest.raises(OutputError) as err:
            check_output_dir(folder, {}, replace=True)
        assert str(err.value) == (
            f"{folder}: refusing to use a filesystem root or home folder as output folder: the result would replace "
            "it Hint: choose a folder of its own for the result, e.g. --out reports/<scenario>"
        )
        assert documented(err.value.message)


ERROR_CLASSES = (
    "RegionoptError",
    "InputError",
    "ConfigError",
    "SolverError",
    "SolverNotAvailableError",
    "InfeasibleError",
    "ModelTooLargeError",
    "OutputError",
)


def test_every_error_class_renders_where_what_and_hint():
    """Each class of optimizer.errors, with every part known, renders as the docs' format line says."""
    import optimizer.errors as errors

    assert sorted(errors.__all__) == sorted(ERROR_CLASSES)
    for name in ERROR_CLASSES:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.RegionoptError) and cls.exit_code == 2
        err = cls("the value is wrong", file="data/demand.csv", row=3, field="population", hint="fix it")
        text = "data/demand.csv, row 3, field 'population': the value is wrong Hint: fix it"
        if name == "InfeasibleError":
            err = cls(
                "the value is wrong",
                file="data/demand.csv",
                row=3,
                field="population",
                hint="fix it",
                diagnosis=["one", "two"],
            )
            text += "\n  - one\n  - two"
        assert str(err) == text, name
        assert str(cls("m", row="d3", hint="h")) == "ID 'd3': m Hint: h"  # code-built data: the record's ID
    assert DOC["Errors"] == ["error: <where>: <what is wrong> Hint: <what to do>"]


def _raise_sites() -> list[tuple[str, int, str, ast.Call]]:
    """Every call of an error class of optimizer.errors (and of a layer context's ``.error``) in optimizer/."""
    import ast

    sites = []
    for path in sorted((ROOT / "optimizer").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = ast.unparse(node.func)
            if name.split(".")[-1] in ERROR_CLASSES or name == "ctx.error":
                sites.append((path.relative_to(ROOT / "optimizer").as_posix(), node.lineno, name, node))
    return sites


def _hinted_by_decorator(path: Path, decorator: str) -> set[str]:
    """Functions of ``path`` decorated with ``decorator`` (which fills in a missing hint), and the helpers
    called only from them (their errors pass through the decorated function)."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    functions = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    hinted = {name for name, fn in functions.items() if any(decorator in ast.unparse(d) for d in fn.decorator_list)}
    callers: dict[str, set[str]] = {name: set() for name in functions}
    for name, fn in functions.items():
        for node in ast.walk(fn):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in callers:
                callers[node.func.id].add(name)
    changed = True
    while changed:
        changed = False
        for name, by in callers.items():
            if name not in hinted and by and by <= hinted:
                hinted.add(name)
                changed = True
    return hinted


def test_every_raise_of_a_user_facing_error_has_a_hint():
    """AST scan of optimizer/: each error raised on purpose says what to do (a ``hint=``).

    Exempt only where the hint is provably added on the way out: OR-Library readers are decorated with
    ``_format_hint`` (the file format as the hint), and their helpers are called only from such readers.
    """
    import ast

    orlib = _hinted_by_decorator(ROOT / "optimizer" / "bench" / "orlib.py", "_format_hint")
    assert {"read_pmed", "read_cap", "read_sjc", "read_optima"} <= orlib
    missing = []
    for file, line, name, node in _raise_sites():
        if any(k.arg == "hint" or k.arg is None for k in node.keywords):
            continue
        owner = None
        tree = ast.parse((ROOT / "optimizer" / file).read_text(encoding="utf-8"))
        for fn in ast.walk(tree):
            if isinstance(fn, ast.FunctionDef) and fn.lineno <= line <= fn.end_lineno:
                owner = fn.name  # the innermost function: ast.walk visits outer ones first
        if file == "bench/orlib.py" and owner in orlib:
            continue
        missing.append(f"{file}:{line} {name}(…) in {owner}()")
    assert not missing, "errors without a hint:\n" + "\n".join(missing)
    assert len(_raise_sites()) > 200  # the scan sees the package's raise sites
