#!/usr/bin/env bash
# Prints wall times: the offline plan of every stack file, then the whole test suite.
# Usage: bash bench/run.sh [--no-tests]. Figures only; nothing here passes or fails on speed.
set -euo pipefail
cd "$(dirname "$0")/.."

bench_ms() {
  local start end
  start=$(date +%s%N)
  "$@" >/dev/null 2>&1
  end=$(date +%s%N)
  echo $(((end - start) / 1000000))
}

echo "=> offline plan, wall time per stack (ms)"
for file in stacks/Pulumi.*.yaml; do
  stack="${file#stacks/Pulumi.}"
  stack="${stack%.yaml}"
  printf '  %-12s %6s ms\n' "$stack" "$(bench_ms npx tsx scripts/plan.ts "$stack" --json)"
done
if [[ "${1:-}" != "--no-tests" ]]; then
  echo "=> whole test suite (npm test), wall time"
  printf '  %-12s %6s ms\n' "npm test" "$(bench_ms npm test)"
fi
