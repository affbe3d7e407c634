"""Every error of docs/errors.md's sections on ``regionopt sweep``, ``bench`` and ``map``, through the command line.

The sections whose title names a command (``## Sweeps (`regionopt sweep`)``,
``## Benchmark files (`regionopt bench`)``, ``## Result folders (`regionopt map`)``)
are read from docs/errors.md; for each example line there is one case in
``CASES`` below (and for each case an example), under the same ``####``
heading. Each case runs the command in a working folder holding

    scenario.yaml, catalogue.yaml, data/...   the toy planning folder of test_errors.py
    result/                                   its plan, written by ``regionopt run``

plus the files the case writes (benchmark files, a damaged result file, …),
and asserts the exact documented line (paths relative to the working
folder), exit code 2, no traceback, and that nothing was written: the whole
working folder — inputs, ``result/``, no ``--out`` folder of a sweep, no
temporary file — is byte-identical afterwards.

Every case fails before anything is solved: sweep options are checked before
the scenario is loaded, grid and output folder before the first point;
benchmark files and options before the model is built; a result folder
before anything is rendered. No Dask cluster is started: the two Dask
errors are provoked by making ``distributed`` unimportable and by a
``distributed.Client`` that times out at once.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_errors import (
    DOCS,
    append,
    error_part,
    relative,
    snapshot,
    solved_planning_folder,
    write,
)

from optimizer.cli.main import main

Edit = Callable[[Path], None]
Patch = Callable[[pytest.MonkeyPatch, Path], None]


# ----------------------------------------------------------------------------- docs/errors.md
def command_sections() -> dict[str, dict[str, list[str]]]:
    """``{section: {heading: [example, ...]}}`` for the ``##`` sections whose title names a command."""
    sections: dict[str, dict[str, list[str]]] = {}
    section = heading = None
    in_block = False
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_block = not in_block
            continue
        if in_block:
            if section is not None and heading is not None and line.startswith("error:"):
                sections[section].setdefault(heading, []).append(line)
            continue
        if line.startswith("## "):
            title = line[3:].strip()
            section = title if "(`regionopt " in title else None
            heading = None
            if section is not None:
                sections[section] = {}
        elif line.startswith("#### ") and section is not None:
            heading = line[5:].strip()
            sections[section].setdefault(heading, [])
    return sections


SECTIONS = command_sections()
DOC: dict[str, list[str]] = {h: ex for entries in SECTIONS.values() for h, ex in entries.items()}


# ----------------------------------------------------------------------------- the working folder
@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The toy planning folder and its plan in result/ (one toy solve for the whole module)."""
    return solved_planning_folder(tmp_path_factory.mktemp("commands").resolve(), "result", "--out", "result")


@pytest.fixture
def work(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh copy of the template, as the current folder."""
    root = (tmp_path / "work").resolve()
    shutil.copytree(template, root)
    monkeypatch.chdir(root)
    monkeypatch.delenv("TIANDITU_KEY", raising=False)
    return root


@dataclass
class Case:
    """A fault: files written into the working folder, the command line, optional monkeypatches.

    ``vary`` is a regular expression for a part of the message that comes
    from a library and differs between its versions (GDAL's reason); it is
    blanked out in the message and in the docs' example before comparing.
    """

    args: list[str]
    edits: list[Edit] = field(default_factory=list)
    patch: Patch | None = None
    vary: str | None = None


# ----------------------------------------------------------------------------- sweep
def sweep(*options: str) -> list[str]:
    """``regionopt sweep`` on the toy scenario into sweep-out/, solving here (no Dask) unless options say otherwise."""
    return ["sweep", "scenario.yaml", "--workers", "0", "--out", "sweep-out", *options]


REQUIRED_LIBRARY = append("scenario.yaml", "sites:\n  required:\n    - {site_id: s1, facility_type: library}\n")


def no_distributed(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` raises ImportError


def scheduler_times_out(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    """What distributed.Client raises after its 15-s timeout when no scheduler listens at the address."""
    distributed = pytest.importorskip("distributed")

    def client(address, timeout=None, **kwargs):
        raise OSError(f"Timed out trying to connect to {address} after {timeout} s")

    monkeypatch.setattr(distributed, "Client", client)


def cannot_mkdir(name: str) -> Patch:
    """Creating a folder called ``name`` in the working folder, or inside it, fails as in a read-only folder."""

    def patch(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
        mkdir = Path.mkdir

        def refuse(self, *args, **kwargs):
            if root / name in (self, *self.parents):
                raise PermissionError(13, "Permission denied", str(self))
            return mkdir(self, *args, **kwargs)

        monkeypatch.setattr(Path, "mkdir", refuse)

    return patch


# ----------------------------------------------------------------------------- bench
PMED = "3 2 1\n1 2 5\n2 3 1\n"
SJC = "4\t9999\tp\tS\n0\t0\t5\n100\t0\t3\n1000\t0\t4\n1000\t150\t1\n"
CAPX = "1 2\ncapacity 10.\n5 1\n5 2\n"


def pmed(text: str) -> list[Edit]:
    return [write("pmed.txt", text)]


def cap(text: str) -> list[Edit]:
    return [write("cap.txt", text)]


def sjc(text: str) -> list[Edit]:
    return [write("SJC.txt", text)]


def optima(text: str | bytes) -> list[Edit]:
    return [write("pmed.txt", PMED), write("optima.csv", text)]


# ----------------------------------------------------------------------------- map
def solution(text: str) -> list[Edit]:
    return [write("result/solution.json", text)]


def edit_solution(**outputs: str) -> Edit:
    def edit(root: Path) -> None:
        import json

        path = root / "result" / "solution.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        data["settings"]["outputs"].update(outputs)
        path.write_text(json.dumps(data, indent=2), encoding="utf-8")

    return edit


def drop_csv_column(name: str, column: str) -> Edit:
    """Write result/<name> again without ``column``."""

    def edit(root: Path) -> None:
        import pandas as pd

        path = root / "result" / name
        pd.read_csv(path, dtype=str, keep_default_na=False).drop(columns=[column]).to_csv(path, index=False)

    return edit


def drop_layer_column(layer: str, column: str) -> Edit:
    """Write result/result.gpkg again with ``layer`` lacking ``column``."""

    def edit(root: Path) -> None:
        import geopandas as gpd
        import pyogrio

        path = root / "result" / "result.gpkg"
        # Spatial layers only: the QGIS style table (layer_styles) is not one.
        layers = {name: gpd.read_file(path, layer=name) for name, geom in pyogrio.list_layers(path) if geom}
        layers[layer] = layers[layer].drop(columns=[column])
        path.unlink()
        for name, gdf in layers.items():
            gdf.to_file(path, layer=name)

    return edit


def drop_layer(layer: str) -> Edit:
    """Write result/result.gpkg again without ``layer``."""

    def edit(root: Path) -> None:
        import geopandas as gpd
        import pyogrio

        path = root / "result" / "result.gpkg"
        layers = {
            name: gpd.read_file(path, layer=name) for name, geom in pyogrio.list_layers(path) if geom and name != layer
        }
        path.unlink()
        for name, gdf in layers.items():
            gdf.to_file(path, layer=name)

    return edit


def no_write_access(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    """The result folder is read-only: creating the temporary folder inside it fails."""
    import tempfile

    def refuse(suffix=None, prefix=None, dir=None):
        raise PermissionError(13, "Permission denied", os.path.join(str(dir), f"{prefix}abcd1234"))

    monkeypatch.setattr(tempfile, "mkdtemp", refuse)


# ----------------------------------------------------------------------------- the cases
# heading in docs/errors.md -> one Case per example of that entry, in order.
CASES: dict[str, list[Case]] = {
    # ------------------------------------------------------------- sweep
    "Workers or scheduler misused": [
        Case(["sweep", "scenario.yaml", "--workers", "-1", "--out", "sweep-out"]),
        Case(sweep("--scheduler", "tcp://10.0.0.5:8786")),
    ],
    "Time limit or MIP gap out of range": [
        Case(sweep("--time-limit", "0")),
        Case(sweep("--mip-gap", "1.5")),
    ],
    "Bad budget": [
        Case(sweep("--budgets", "2 billion")),
        Case(sweep("--budgets", "1e9:inf:3")),
        Case(sweep("--budgets", "")),
        Case(sweep("--budgets", "1e9,,2e9")),
        Case(sweep("--budgets", "0,1e9")),
        Case(sweep("--budgets", "1e9,1e9")),
    ],
    "Budget range malformed": [
        Case(sweep("--budgets", "1e9:2e9")),
        Case(sweep("--budgets", "1e9:2e9:1")),
        Case(sweep("--budgets", "2e9:1e9:3")),
    ],
    "Unknown or repeated objective": [
        Case(sweep("--objectives", "coverage,equty")),
        Case(sweep("--objectives", "coverage,,equity")),
        Case(sweep("--objectives", "coverage,coverage")),
    ],
    "Bad weight set": [
        Case(sweep("--weights", "")),
        Case(sweep("--weights", "library")),
        Case(sweep("--weights", "library=x")),
        Case(sweep("--weights", "library=-1")),
        Case(sweep("--weights", "library=1,library=2")),
        Case(sweep("--weights", "library=2", "--weights", "library=2.0")),
        Case(sweep("--weights", "libary=2")),
    ],
    "Grid point the scenario cannot take": [Case(sweep("--budgets", "1e7,1e8"), [REQUIRED_LIBRARY])],
    "Dask missing or scheduler unreachable": [
        Case(["sweep", "scenario.yaml", "--budgets", "1e8", "--out", "sweep-out"], patch=no_distributed),
        Case(
            ["sweep", "scenario.yaml", "--budgets", "1e8", "--out", "sweep-out", "--scheduler", "tcp://10.0.0.5:8786"],
            patch=scheduler_times_out,
        ),
    ],
    "Sweep output folder unusable": [
        Case(["sweep", "scenario.yaml", "--workers", "0", "--budgets", "1e8", "--out", "."]),
        Case(
            ["sweep", "scenario.yaml", "--workers", "0", "--budgets", "1e8", "--out", "notes.txt/sweep"],
            [write("notes.txt", "my notes\n")],
        ),
        Case(sweep("--budgets", "1e8"), patch=cannot_mkdir("sweep-out")),
    ],
    # ------------------------------------------------------------- bench
    "Benchmark file not found or not text": [
        Case(["bench", "orlib-pmed", "pmed41.txt"]),
        Case(["bench", "orlib-pmed", "pmed.txt"], [write("pmed.txt", PMED.encode("utf-16"))]),
    ],
    "Bad header": [
        Case(["bench", "orlib-pmed", "pmed.txt"], pmed("3 2\n")),
        Case(["bench", "orlib-cap", "cap.txt"], cap("\n")),
        Case(["bench", "sjc", "SJC.txt", "--p", "1", "--radius", "800"], sjc("")),
        Case(["bench", "orlib-pmed", "pmed.txt"], pmed("0 0 1\n")),
        Case(["bench", "orlib-pmed", "pmed.txt"], pmed("3 -2 1\n")),
        Case(["bench", "orlib-pmed", "pmed.txt"], pmed("3 2 4\n1 2 5\n2 3 1\n")),
        Case(["bench", "orlib-cap", "cap.txt"], cap("0 1\n")),
        Case(["bench", "sjc", "SJC.txt", "--p", "1", "--radius", "800"], sjc("0 9999 p S\n")),
    ],
    "Bad token": [
        Case(["bench", "orlib-pmed", "pmed.txt"], pmed("3 2 1\n1 x 5\n2 3 1\n")),
        Case(["bench", "orlib-pmed", "pmed.txt"], pmed("3.5 2 1\n1 2 5\n2 3 1\n")),
        Case(["bench", "orlib-pmed", "pmed.txt"], pmed("3 2 1\n1 2 inf\n2 3 1\n")),
        Case(["bench", "orlib-cap", "cap.txt"], cap("1 2\n10 abc\n5 1\n5 2\n")),
        Case(["bench", "orlib-cap", "cap.txt"], cap("1 2\n10 10\n-5 1\n5 2\n")),
        Case(["bench", "orlib-cap", "cap.txt"], cap("1 2\n10 10\n5 1\n5 -2\n")),
    ],
    "Token count does not match the header": [
        Case(["bench", "orlib-pmed", "pmed.txt"], pmed("3 2 1\n1 2 5\n")),
        Case(["bench", "orlib-cap", "cap.txt"], cap("2 3\n10 1\n10 1\n")),
        Case(["bench", "sjc", "SJC.txt", "--p", "1", "--radius", "800"], sjc("3 9999 p S\n0 0 5\n")),
    ],
    "Bad edges in a p-median file": [
        Case(["bench", "orlib-pmed", "pmed.txt"], pmed("3 2 1\n1 4 5\n2 3 1\n")),
        Case(["bench", "orlib-pmed", "pmed.txt"], pmed("3 2 1\n1 2 -5\n2 3 1\n")),
        Case(["bench", "orlib-pmed", "pmed.txt"], pmed("3 1 1\n1 2 5\n")),
    ],
    "Capacity left to the benchmark variant": [Case(["bench", "orlib-cap", "cap.txt"], cap(CAPX))],
    "Malformed line in an SJC file": [
        Case(["bench", "sjc", "SJC.txt", "--p", "1", "--radius", "800"], sjc("1 9999 p S\n0 0\n")),
        Case(["bench", "sjc", "SJC.txt", "--p", "1", "--radius", "800"], sjc("1 9999 p S\n0 y 5\n")),
        Case(["bench", "sjc", "SJC.txt", "--p", "1", "--radius", "800"], sjc("1 9999 p S\n0 0 -5\n")),
    ],
    "Bad optima table": [
        Case(["bench", "orlib-pmed", "pmed.txt", "--optima", "optima.csv"], [write("pmed.txt", PMED)]),
        Case(["bench", "orlib-pmed", "pmed.txt", "--optima", "optima.csv"], optima("")),
        Case(["bench", "orlib-pmed", "pmed.txt", "--optima", "optima.csv"], optima("name,value\npmed,5819\n")),
        Case(["bench", "orlib-pmed", "pmed.txt", "--optima", "optima.csv"], optima("instance,optimal\npmed,n/a\n")),
    ],
    "Bad benchmark option": [
        Case(["bench", "orlib-pmed", "pmed.txt", "--time-limit", "0"], pmed(PMED)),
        Case(["bench", "orlib-cap", "cap.txt", "--capacity", "-5"], cap(CAPX)),
        Case(["bench", "sjc", "SJC.txt", "--p", "1", "--radius", "-800"], sjc(SJC)),
        Case(["bench", "sjc", "SJC.txt", "--p", "9", "--radius", "800"], sjc(SJC)),
    ],
    # ------------------------------------------------------------- map
    "Not a result folder": [
        Case(["map", "reports/toi"]),
        Case(["map", "notes.txt"], [write("notes.txt", "my notes\n")]),
        Case(["map", "my-documents"], [write("my-documents/plan.docx", "draft\n")]),
    ],
    "Result file damaged": [
        Case(["map", "result"], solution("{not json\n")),
        Case(["map", "result"], solution("[1, 2]\n")),
        Case(
            ["map", "result"],
            [write("result/result.gpkg", b"not a geopackage")],
            vary=r"(?<=cannot read result\.gpkg: ).*(?= Hint: )",
        ),
        Case(["map", "result"], [drop_layer("facilities")]),
        Case(["map", "result"], [write("result/standards.csv", "")]),
        Case(["map", "result"], [drop_csv_column("coverage_by_unit.csv", "rate_after")]),
        Case(["map", "result"], [drop_layer_column("demand", "population")]),
    ],
    "Bad language or basemap": [
        Case(["map", "result"], [edit_solution(language="fr")]),
        Case(["map", "result"], [edit_solution(basemap="google")]),
        Case(["map", "result", "--basemap", "tianditu"]),
    ],
    "Result folder not writable": [Case(["map", "result"], patch=no_write_access)],
    # ------------------------------------------------------------- init
    "Init folder not usable": [
        Case(["init", "."], [write("configs/zhejiang.yaml", "name: mine\n")]),
        Case(["init", "notes.txt/study"], [write("notes.txt", "my notes\n")]),
    ],
}

CASE_IDS = [(title, i) for title, cases in CASES.items() for i in range(len(cases))]


def test_every_case_has_a_docs_example_and_every_example_a_case():
    """The command sections of docs/errors.md and CASES list the same entries, example for example."""
    assert set(SECTIONS) == {
        "Sweeps (`regionopt sweep`)",
        "Benchmark files (`regionopt bench`)",
        "Result folders (`regionopt map`)",
        "Starting folders (`regionopt init`)",
    }
    assert set(DOC) == set(CASES), (sorted(set(DOC) - set(CASES)), sorted(set(CASES) - set(DOC)))
    for title, cases in CASES.items():
        assert len(DOC[title]) == len(cases), (title, DOC[title])
    # Headings are unique in the whole page: test_errors.py keys examples by heading alone.
    headings = [line[5:].strip() for line in DOCS.read_text(encoding="utf-8").splitlines() if line.startswith("#### ")]
    assert not [h for h in DOC if headings.count(h) != 1]


def check(result, message: str, expected: str, vary: str | None = None) -> None:
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 2, result.output
    if vary:
        message, expected = re.sub(vary, "…", message), re.sub(vary, "…", expected)
    assert message == expected


@pytest.mark.parametrize("title,index", CASE_IDS, ids=[f"{t}-{i}" for t, i in CASE_IDS])
def test_documented_error(title: str, index: int, work: Path, monkeypatch: pytest.MonkeyPatch):
    case = CASES[title][index]
    for edit in case.edits:
        edit(work)
    if case.patch:
        case.patch(monkeypatch, work)
    before = snapshot(work)
    result = CliRunner().invoke(main, case.args)
    check(result, relative(error_part(result.stderr), work), DOC[title][index], case.vary)
    assert not result.stdout.strip(), result.stdout  # no table, no "written" line
    # Nothing written: inputs, result/, no sweep-out/ and no temporary files.
    assert snapshot(work) == before


# ----------------------------------------------------------------------------- beyond the examples
def test_unknown_scheduler_scheme_without_patching(work: Path):
    """A real distributed.Client refuses an address it cannot parse at once; nothing is written."""
    pytest.importorskip("distributed")
    before = snapshot(work)
    result = CliRunner().invoke(
        main, ["sweep", "scenario.yaml", "--budgets", "1e8", "--out", "sweep-out", "--scheduler", "foo://10.0.0.5:8786"]
    )
    message = error_part(result.stderr)
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert message.startswith(
        "error: field '--scheduler': cannot connect to the Dask scheduler at "
        "'foo://10.0.0.5:8786': unknown address scheme 'foo'"
    ), message
    assert snapshot(work) == before


def test_run_into_a_folder_under_a_file(work: Path):
    """`regionopt run --out notes.txt/results`: the file on the way is named, as documented for run, before solving."""
    from test_errors import DOC as RUN_DOC

    write("notes.txt", "my notes\n")(work)
    before = snapshot(work)
    result = CliRunner().invoke(main, ["run", "scenario.yaml", "--out", "notes.txt/results"])
    check(result, relative(error_part(result.stderr), work), RUN_DOC["Output path is a file"][0])
    assert "solve" not in result.stderr  # refused before solving
    assert snapshot(work) == before


def test_run_cannot_create_the_output_folder(work: Path, monkeypatch: pytest.MonkeyPatch):
    """`regionopt run` gives the sweep's documented message when its output folder cannot be created."""
    cannot_mkdir("new")(monkeypatch, work)
    before = snapshot(work)
    result = CliRunner().invoke(main, ["run", "scenario.yaml", "--out", "new/results", "--no-maps", "--no-report"])
    expected = DOC["Sweep output folder unusable"][2].replace("error: sweep-out:", "error: new/results:")
    check(result, relative(error_part(result.stderr), work), expected)
    assert snapshot(work) == before


def test_bench_checks_every_file_before_solving_any(work: Path):
    """A missing second file is reported before the first is solved."""
    write("pmed.txt", PMED)(work)
    result = CliRunner().invoke(main, ["bench", "orlib-pmed", "pmed.txt", "pmed41.txt"])
    assert result.exit_code == 2 and not result.stdout.strip(), result.output
    assert error_part(result.stderr) == DOC["Benchmark file not found or not text"][0]
