#!/usr/bin/env bash
# Lines parsed per second by `attnswarm import` on a generated log (default 10M lines,
# 50k users x 1000 items, with kinds, values and times). Usage: bench/import_bench.sh [LINES]
set -euo pipefail
cd "$(dirname "$0")/.."
lines=${1:-10000000}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 - "$lines" "$tmp/events.csv" <<'PY'
import random, sys
n, path = int(sys.argv[1]), sys.argv[2]
rng = random.Random(1)
kinds = ["view"] * 8 + ["click"] * 3 + ["purchase"]
with open(path, "w") as f:
    f.write("user,task,value,time,kind\n")
    block = 100000
    for start in range(0, n, block):
        rows = []
        for _ in range(min(block, n - start)):
            rows.append(f"u{rng.randrange(50000)},item{rng.randrange(1000)},{rng.random() * 5:.2f},"
                        f"{1700000000 + rng.randrange(30000000)},{rng.choice(kinds)}\n")
        f.write("".join(rows))
PY
bytes=$(stat -c %s "$tmp/events.csv")
start=$(date +%s.%N)
./build/attnswarm import --events "$tmp/events.csv" --kind-col kind --kind-weights view=1,click=3,purchase=10 \
  --half-life 30 --out "$tmp/bundle"
end=$(date +%s.%N)
/usr/bin/python3 -c "
s = $end - $start
print(f'{$lines} lines ({$bytes / 1e6:.0f} MB): {s:.2f} s in all, {$lines / s / 1e6:.2f} M lines/s')"
