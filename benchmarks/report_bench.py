"""Report benchmark: size of the Zhejiang default's report files and how fast Chromium shows them.

Run from the repository root::

    .venv/bin/python benchmarks/report_bench.py                       # solve the default (60 s limit), then measure
    .venv/bin/python benchmarks/report_bench.py --result reports/zhejiang-default   # measure a saved result
    .venv/bin/python benchmarks/report_bench.py --runs 7 --json benchmarks/results/report_bench.json

It re-renders the maps and the report of the result folder (timed), sums the
sizes of the files a reader opens (``index.html``, the two map pages,
``map_data.js``, ``static/``; target ≤ 15 MB), and loads each page in Debian's
headless Chromium (``/usr/bin/chromium``, networking blocked) ``--runs``
times, reporting the median time to the ``load`` event (target ≤ 3 s) and to
"maps drawn" (the map script has built every layer).

It also measures the demand-point rendering choice on the single map
(``map_toggle.html``, ~17,000 demand points): Leaflet circle markers on one
canvas (what the maps use) against the same markers as SVG
(``#render=svg``): load time, DOM nodes, JS heap, redraw after a zoom step,
switching the facility type, and frame rate while panning by script (each
frame moves the map and so triggers the renderer's update).

Headless Chromium runs with ``--disable-gpu`` (software rasterisation), so
absolute frame rates are lower than on a desktop browser; the comparison
between the two renderers is what matters.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from optimizer.render.report import REPORT_FILE, render  # noqa: E402 (after sys.path: runs as a script)

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND",
]
PAGES = {
    REPORT_FILE: 2,
    "map_compare.html": 2,
    "map_toggle.html": 1,
}  # page -> maps drawn in it (index: the side-by-side iframe)
SIZE_TARGET_MB = 15.0
LOAD_TARGET_S = 3.0


def solve_default(out: Path, time_limit: float) -> float:
    from optimizer.pipeline import default_config_path, run
    from optimizer.scenario import load_scenario

    scenario = load_scenario(default_config_path()).replace(**{"solver.time_limit": time_limit})
    t0 = time.perf_counter()
    run(scenario, out_dir=out, maps=False, report=False)
    return time.perf_counter() - t0


def report_sizes(folder: Path) -> list[tuple[str, float]]:
    rows = []
    for name in (REPORT_FILE, "map_compare.html", "map_toggle.html", "map_data.js"):
        rows.append((name, (folder / name).stat().st_size / 1e6))
    static = sum(p.stat().st_size for p in (folder / "static").rglob("*") if p.is_file())
    rows.append(("static/ (Leaflet, Leaflet.Sync, regionopt js/css)", static / 1e6))
    return rows


def _launch(p, profile: str):
    return p.chromium.launch_persistent_context(
        profile, executable_path=str(CHROMIUM), args=ARGS, headless=True, viewport={"width": 1400, "height": 900}
    )


def _open(ctx, url: str, problems: list[str]):
    page = ctx.new_page()
    page.on("pageerror", lambda e: problems.append(f"pageerror {e}"))
    page.on("console", lambda m: problems.append(f"console {m.text}") if m.type == "error" else None)
    page.on("requestfailed", lambda r: problems.append(f"failed {r.url}"))

    def route(r):
        if r.request.url.startswith("file:"):
            r.continue_()
        else:
            problems.append(f"blocked {r.request.url}")
            r.abort()

    page.route("**/*", route)
    t0 = time.perf_counter()
    page.goto(url, wait_until="load")
    return page, t0


def measure_pages(folder: Path, runs: int) -> tuple[list[dict], list[str]]:
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    rows = []
    with sync_playwright() as p:
        ctx = _launch(p, tempfile.mkdtemp(prefix="report-bench-"))
        for name, n_maps in PAGES.items():
            loads, drawn = [], []
            for k in range(runs):
                print(f"  loading {name} ({k + 1}/{runs})", file=sys.stderr, flush=True)
                page, t0 = _open(ctx, (folder / name).resolve().as_uri(), problems)
                nav = page.evaluate("() => performance.getEntriesByType('navigation')[0].loadEventStart")
                frame = page
                if name == REPORT_FILE:
                    # Chromium pauses animation frames in off-screen cross-origin (file://) iframes.
                    page.locator("#map-compare").scroll_into_view_if_needed()
                    frame = next(f for f in page.frames if "map_compare" in f.url)
                frame.wait_for_function(f"() => window.regionopt && regionopt.maps.length === {n_maps}", timeout=60_000)
                # Two animation frames after the layers exist: the canvas has been painted.
                frame.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
                drawn.append(time.perf_counter() - t0)
                loads.append(nav / 1000.0)
                page.close()
            rows.append(
                {
                    "page": name,
                    "load_s": statistics.median(loads),
                    "drawn_s": statistics.median(drawn),
                    "load_min_s": min(loads),
                    "load_max_s": max(loads),
                }
            )
        ctx.close()
    return rows, problems


INTERACTION = """
async () => {
  const v = regionopt.maps[0], map = v.map;
  const frames2 = () => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  await frames2();
  let t = performance.now();
  map.setZoom(map.getZoom() + 1, {animate: false});
  await frames2();
  const zoom_ms = performance.now() - t;
  map.setZoom(map.getZoom() - 1, {animate: false});
  await frames2();
  const key = regionopt.data().types[Math.min(3, regionopt.data().types.length - 1)].id;
  t = performance.now();
  regionopt.setState({key: key});
  await frames2();
  const switch_ms = performance.now() - t;
  regionopt.setState({key: 'all'});
  await frames2();
  const fps = await new Promise(resolve => {
    let frames = 0, dir = 1; const t0 = performance.now();
    function step(now) {
      frames++;
      map.panBy([dir * 12, 0], {animate: false});
      if (frames % 30 === 0) dir = -dir;
      if (now - t0 < 2000) requestAnimationFrame(step); else resolve(frames / ((now - t0) / 1000));
    }
    requestAnimationFrame(step);
  });
  const heap = performance.memory ? performance.memory.usedJSHeapSize / 1e6 : null;
  return {zoom_ms, switch_ms, fps, heap_mb: heap, dom_nodes: document.getElementsByTagName('*').length,
          demand: v.layers.demand.getLayers().length};
}
"""


def measure_renderers(folder: Path, runs: int) -> tuple[list[dict], list[str]]:
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    rows = []
    with sync_playwright() as p:
        ctx = _launch(p, tempfile.mkdtemp(prefix="report-bench-"))
        for label, fragment in (("canvas (used)", ""), ("SVG", "#render=svg")):
            samples = []
            for _ in range(max(1, runs // 2)):
                page, t0 = _open(ctx, (folder / "map_toggle.html").resolve().as_uri() + fragment, problems)
                page.wait_for_function("() => window.regionopt && regionopt.maps.length === 1", timeout=60_000)
                page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
                drawn = time.perf_counter() - t0
                res = page.evaluate(INTERACTION)
                res["drawn_s"] = drawn
                samples.append(res)
                page.close()
            med = {
                k: statistics.median(s[k] for s in samples) if samples[0][k] is not None else None for k in samples[0]
            }
            rows.append({"renderer": label, **med})
        ctx.close()
    return rows, problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--result", type=Path, help="an existing result folder of the Zhejiang default (else solve it)")
    ap.add_argument("--time-limit", type=float, default=60.0, help="solver time limit when solving (default 60 s)")
    ap.add_argument("--runs", type=int, default=5, help="page loads per page (median reported)")
    ap.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    args = ap.parse_args(argv)
    if not CHROMIUM.exists():
        print("error: /usr/bin/chromium not found (apt-get install chromium)", file=sys.stderr)
        return 2

    solve_s = None
    if args.result is None:
        if not (ROOT / "geodata" / "zhejiang" / "zhejiang.gpkg").is_file():
            print("error: geodata/zhejiang/zhejiang.gpkg not built; run geodata/build_zhejiang.py", file=sys.stderr)
            return 2
        folder = Path(tempfile.mkdtemp(prefix="report-bench-")) / "zhejiang-default"
        print(f"solving the Zhejiang default (time limit {args.time_limit:g} s) into {folder} ...", flush=True)
        solve_s = solve_default(folder, args.time_limit)
    else:
        folder = args.result
    t0 = time.perf_counter()
    render(folder)
    render_s = time.perf_counter() - t0

    sizes = report_sizes(folder)
    total = sum(mb for _, mb in sizes)
    pages, problems = measure_pages(folder, args.runs)
    renderers, problems2 = measure_renderers(folder, args.runs)
    problems += problems2

    solution = json.loads((folder / "solution.json").read_text())
    print()
    print(
        f"Zhejiang default: status {solution['status']}, {solution['new_facilities']} new facilities"
        + (f"; solved in {solve_s:.0f} s" if solve_s else "")
        + f"; maps + report rendered in {render_s:.1f} s"
    )
    print()
    print(f"{'report file':<52} {'MB':>7}")
    for name, mb in sizes:
        print(f"{name:<52} {mb:>7.2f}")
    print(
        f"{f'total (target <= {SIZE_TARGET_MB:.0f} MB)':<52} {total:>7.2f}  {'OK' if total <= SIZE_TARGET_MB else 'OVER'}"
    )
    print()
    print(
        f"{f'page (median of {args.runs:d} loads)':<28} {'load event s':>13} {'maps drawn s':>13} {'load min-max s':>15}"
    )
    for r in pages:
        ok = "OK" if r["load_s"] <= LOAD_TARGET_S else "SLOW"
        print(
            f"{r['page']:<28} {r['load_s']:>13.2f} {r['drawn_s']:>13.2f} {r['load_min_s']:>7.2f}-{r['load_max_s']:<7.2f} {ok}"
        )
    print(f"(target: load event <= {LOAD_TARGET_S:g} s)")
    print()
    print(f"demand points on map_toggle.html: {renderers[0]['demand']:,.0f} markers")
    print(
        f"{'renderer':<16} {'drawn s':>8} {'zoom redraw ms':>15} {'type switch ms':>15} {'pan fps':>8} {'DOM nodes':>10} {'JS heap MB':>11}"
    )
    for r in renderers:
        heap = f"{r['heap_mb']:.0f}" if r["heap_mb"] is not None else "–"
        print(
            f"{r['renderer']:<16} {r['drawn_s']:>8.2f} {r['zoom_ms']:>15.0f} {r['switch_ms']:>15.0f} {r['fps']:>8.1f} "
            f"{r['dom_nodes']:>10,.0f} {heap:>11}"
        )
    if problems:
        print("\nproblems seen in the browser:")
        for line in sorted(set(problems)):
            print("  " + line)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "sizes_mb": dict(sizes),
                    "total_mb": total,
                    "pages": pages,
                    "renderers": renderers,
                    "render_s": render_s,
                    "solve_s": solve_s,
                    "status": solution["status"],
                    "problems": sorted(set(problems)),
                },
                indent=2,
            )
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
