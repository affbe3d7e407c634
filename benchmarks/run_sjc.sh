#!/usr/bin/env bash
# Solve every (instance, S, p) row of mclp/self_computed.csv and compare with its value.
#
#   bash benchmarks/run_sjc.sh [DATA_DIR]      (default ../shared/benchmarks)
#
# The reference values are the data curator's own HiGHS optima, not published ones.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/benchmarks}
OUT=benchmarks/results/sjc.jsonl
BIN=${REGIONOPT:-.venv/bin/regionopt}
mkdir -p benchmarks/results
: > "$OUT"
tail -n +2 "$DATA/mclp/self_computed.csv" | while IFS=, read -r inst n total s p cov; do
  "$BIN" bench sjc "$DATA/mclp/sjc/$inst.txt" --p "$p" --radius "$s" --optima "$DATA/mclp/self_computed.csv" \
    --json >> "$OUT" || true
done
.venv/bin/python benchmarks/summarize.py "$OUT"
