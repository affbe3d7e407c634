"""Build the shipped ILLUSTRATIVE population projection: ``geodata/zhejiang/projection_2020_2035.csv``.

Run from the repository root::

    .venv/bin/python geodata/build_projection.py [--shared ../shared/data/zhejiang] [--out geodata/zhejiang]

Inputs (``--shared``, the same folder as ``build_zhejiang.py``):
``counties_2020.csv`` (2020 census residents of the 90 county units, 2021
divisions) and ``census2020_county_units_zj.csv`` (5-year age brackets of
the census tabulation's 91 units, 2020 divisions). Both come from NBS,
*Tabulation on the 2020 China Population Census by County* (中国人口普查分县资料—2020),
China Statistics Press 2022, via GitHub ``thebamboogrove/tudigong`` (see
``geodata/README.md``).

Outputs (``--out``):

* ``age_brackets_2020.csv`` — people per 2021 county unit and 5-year bracket
  in 2020 (county residents × bracket shares; shares of the census unit(s)
  the county came from, mixed as ``build_zhejiang.HANGZHOU_IMPUTATION`` does
  for the five redrawn Hangzhou units), plus women aged 15–49;
* ``projection_2020_2035.csv`` — ``unit_id, group, year, population, source``
  for 2020, 2025, 2030, 2035 and the groups ``all``, ``0_14``,
  ``school_age`` (5–14), ``elderly`` (60+), ``65plus``;
* ``projection_info.json`` — assumptions, sources and checksums.

Method (``optimizer.population.cohort_ageing``): cohort-component
projection in 5-year steps, closed population (NO migration).

* Survival: a Gompertz life table ``mu(x) = alpha exp(beta x)`` with
  ``beta = 0.09`` per year (a conventional adult slope: mortality doubles
  about every 7.7 years; estimates for modern populations lie around
  0.08–0.11, e.g. Missov et al. 2015, *Demographic Research* 32:1031) and
  ``alpha`` set so that life expectancy at birth is **77.93 years**, China's
  2020 figure in the National Health Commission's *Statistical Bulletin on
  the Development of Health Care in China 2020* (2020年我国卫生健康事业发展统计公报).
* Births: total fertility rate **1.3**, China's 2020 figure from the Seventh
  National Population Census (NBS press conference, 11 May 2021), spread
  evenly over ages 15–49 of the women in each county (the census
  ``share_women_15_49``, kept in proportion to the 15–49 brackets later).

These are national figures applied to every county: Zhejiang's fertility is
lower and its life expectancy higher, and Zhejiang gained about 10 million
residents between the 2010 and 2020 censuses, mostly by migration, which a
closed projection leaves out. The result shows ageing in the right direction
and order of magnitude; it is ILLUSTRATIVE, not a forecast. Replace it with
an official projection (same CSV format) before using plans for decisions.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "geodata"))

from build_zhejiang import HANGZHOU_IMPUTATION  # noqa: E402 (after sys.path: runs as a script)

from optimizer.planning.population import BRACKETS, GROUP_BRACKETS, cohort_ageing  # noqa: E402

LIFE_EXPECTANCY = 77.93  # China 2020, NHC Statistical Bulletin 2020
GOMPERTZ_BETA = 0.09  # per year
TFR = 1.3  # China 2020, 7th census (NBS, 11 May 2021)
BASE_YEAR = 2020
STEPS = 3  # 2025, 2030, 2035
SOURCE = "ILLUSTRATIVE cohort-ageing projection, not a forecast (geodata/build_projection.py)"
CENSUS_BRACKETS = {"0_4": ["share_age_0", "share_age_1_4"]} | {b: [f"share_age_{b}"] for b in BRACKETS[1:]}


def county_brackets(counties: pd.DataFrame, census: pd.DataFrame) -> pd.DataFrame:
    """People per 2021 county unit and bracket in 2020, and women 15–49."""
    cu = census.set_index("code")
    recs = []
    for rec in counties.itertuples(index=False):
        mix = HANGZHOU_IMPUTATION.get(rec.adcode)
        if mix is None:
            parts = cu[cu["maps_to_adcode_2021"] == rec.adcode]
            assert len(parts), rec.adcode
            mix = parts["population_2020"].to_dict()
        w = pd.Series(mix, dtype=float)
        w = w / w.sum()
        parts = cu.loc[w.index]
        shares = np.array([float((parts[cols].sum(axis=1) * w).sum()) for cols in CENSUS_BRACKETS.values()])
        shares = shares / shares.sum()  # published shares are rounded to 4 dp
        women = float((parts["share_women_15_49"] * w).sum())
        people = float(rec.population_2020)
        recs.append(
            {
                "unit_id": rec.adcode,
                "name": rec.name_zh,
                "population": people,
                **{f"age_{b}": people * s for b, s in zip(BRACKETS, shares, strict=False)},
                "women_15_49": people * women,
            }
        )
    return pd.DataFrame(recs)


def projection(brackets: pd.DataFrame) -> pd.DataFrame:
    """The projection rows (long format) from :func:`county_brackets`."""
    people = brackets[[f"age_{b}" for b in BRACKETS]].to_numpy()
    out = cohort_ageing(
        people,
        brackets["women_15_49"].to_numpy(),
        steps=STEPS,
        tfr=TFR,
        life_expectancy=LIFE_EXPECTANCY,
        beta=GOMPERTZ_BETA,
    )
    recs = []
    for s in range(STEPS + 1):
        year = BASE_YEAR + 5 * s
        for group, idx in GROUP_BRACKETS.items():
            values = out[s][:, list(idx)].sum(axis=1)
            for unit, v in zip(brackets["unit_id"], values, strict=False):
                recs.append(
                    {"unit_id": unit, "group": group, "year": year, "population": round(float(v), 1), "source": SOURCE}
                )
    return pd.DataFrame(recs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data" / "zhejiang")
    parser.add_argument("--out", type=Path, default=REPO / "geodata" / "zhejiang")
    args = parser.parse_args(argv)
    files = {"counties": args.shared / "counties_2020.csv", "census": args.shared / "census2020_county_units_zj.csv"}
    codes = dict.fromkeys(("adcode", "city_adcode", "code", "maps_to_adcode_2021"), str)
    counties = pd.read_csv(files["counties"], dtype=codes)
    census = pd.read_csv(files["census"], dtype=codes)
    brackets = county_brackets(counties, census)
    assert abs(brackets["population"].sum() - 64_567_588) < 1, "Zhejiang's 2020 census residents"
    proj = projection(brackets)
    args.out.mkdir(parents=True, exist_ok=True)
    brackets.round(1).to_csv(args.out / "age_brackets_2020.csv", index=False)
    proj.to_csv(args.out / "projection_2020_2035.csv", index=False)
    info = {
        "built_by": "geodata/build_projection.py",
        "illustrative": True,
        "method": "cohort-component, 5-year steps, closed population (no migration)",
        "assumptions": {
            "life_expectancy_at_birth": LIFE_EXPECTANCY,
            "life_expectancy_source": "National Health Commission, Statistical Bulletin on the Development of "
            "Health Care in China 2020 (China, both sexes)",
            "gompertz_beta_per_year": GOMPERTZ_BETA,
            "total_fertility_rate": TFR,
            "tfr_source": "NBS, Seventh National Population Census press conference, 11 May 2021 (China, 2020)",
            "migration": "none",
        },
        "sources": {f"shared/{p.name}": hashlib.sha256(p.read_bytes()).hexdigest() for p in files.values()},
        "outputs": {
            p: hashlib.sha256((args.out / p).read_bytes()).hexdigest()
            for p in ("age_brackets_2020.csv", "projection_2020_2035.csv")
        },
    }
    (args.out / "projection_info.json").write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n")
    total = proj[proj["group"] == "all"].groupby("year")["population"].sum()
    elderly = proj[proj["group"] == "elderly"].groupby("year")["population"].sum()
    school = proj[proj["group"] == "school_age"].groupby("year")["population"].sum()
    print(pd.DataFrame({"all": total, "elderly_share": elderly / total, "school_age": school}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
