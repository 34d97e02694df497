#!/bin/sh
# lap vs scipy on the same instances, then gm per 16-node problem.
# Usage: bench/cpu/run_solvers.sh [build-dir]   (from the repo root)
set -e
build=${1:-build}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$build/bin/bench_solvers" write "$dir"
/usr/bin/python3 "$(dirname "$0")/scipy_lap.py" "$dir"
"$build/bin/bench_solvers" compare "$dir"
