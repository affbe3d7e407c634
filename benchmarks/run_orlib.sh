#!/usr/bin/env bash
# Solve every OR-Library instance and compare with the published optima.
#
#   bash benchmarks/run_orlib.sh [DATA_DIR] [pmed|cap|uflp|all]
#
# DATA_DIR holds orlib-pmed/ and orlib-cap/ as in the project's shared benchmark
# folder (default: ../shared/benchmarks, i.e. beside the repository). Writes one
# JSON line per instance to benchmarks/results/*.jsonl and prints a summary table.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/benchmarks}
WHAT=${2:-all}
OUT=benchmarks/results
BIN=${REGIONOPT:-.venv/bin/regionopt}
mkdir -p "$OUT"
CAPS="41 42 43 44 51 61 62 63 64 71 72 73 74 81 82 83 84 91 92 93 94 101 102 103 104 111 112 113 114 121 122 123 124 131 132 133 134"
UNCAPS="71 72 73 74 101 102 103 104 131 132 133 134"

if [[ $WHAT == pmed || $WHAT == all ]]; then
  files=(); for i in $(seq 1 40); do files+=("$DATA/orlib-pmed/pmed$i.txt"); done
  "$BIN" bench orlib-pmed "${files[@]}" --optima "$DATA/orlib-pmed/optimal.csv" --json > "$OUT/orlib-pmed.jsonl" || true
fi
if [[ $WHAT == cap || $WHAT == all ]]; then
  files=(); for i in $CAPS; do files+=("$DATA/orlib-cap/cap$i.txt"); done
  "$BIN" bench orlib-cap "${files[@]}" --optima "$DATA/orlib-cap/optimal.csv" --json > "$OUT/orlib-cap.jsonl" || true
  "$BIN" bench orlib-cap "$DATA/orlib-cap/capa.txt" --capacity 8000 --capacity 10000 --capacity 12000 --capacity 14000 \
    --optima "$DATA/orlib-cap/optimal.csv" --json >> "$OUT/orlib-cap.jsonl" || true
  "$BIN" bench orlib-cap "$DATA/orlib-cap/capb.txt" --capacity 5000 --capacity 6000 --capacity 7000 --capacity 8000 \
    --optima "$DATA/orlib-cap/optimal.csv" --json >> "$OUT/orlib-cap.jsonl" || true
  "$BIN" bench orlib-cap "$DATA/orlib-cap/capc.txt" --capacity 5000 --capacity 5750 --capacity 6500 --capacity 7250 \
    --optima "$DATA/orlib-cap/optimal.csv" --json >> "$OUT/orlib-cap.jsonl" || true
fi
if [[ $WHAT == uflp || $WHAT == all ]]; then
  files=(); for i in $UNCAPS; do files+=("$DATA/orlib-cap/cap$i.txt"); done
  files+=("$DATA/orlib-cap/capa.txt" "$DATA/orlib-cap/capb.txt" "$DATA/orlib-cap/capc.txt")
  "$BIN" bench orlib-cap "${files[@]}" --uncapacitated --optima "$DATA/orlib-cap/optimal.csv" --json \
    > "$OUT/orlib-uflp.jsonl" || true
fi
.venv/bin/python benchmarks/summarize.py "$OUT"/orlib-*.jsonl
