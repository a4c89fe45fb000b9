#!/usr/bin/env bash
# A nightly job, two nights: today's solve started cold (shape search, then the swarm) beside
# the same solve warm-started from yesterday's policy (--init-policy), in one run. Yesterday is
# a generated bundle; today keeps its interest and attraction and redraws each user's
# attention (x lognormal, sigma 0.2) and each capacity (x lognormal, sigma 0.1).
# Usage: bench/warm_start.sh [USERS] [TASKS] [SEGMENTS]   (after tools/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
users=${1:-200000}; tasks=${2:-32}; segments=${3:-4}
bin=${ATTNSWARM_BIN:-./build/attnswarm}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$bin" generate --quiet --users "$users" --tasks "$tasks" --segments "$segments" --seed 1 --out "$tmp/yesterday"
mkdir "$tmp/today"
for f in fitness.npy attraction.npy segment.npy; do ln -s "$tmp/yesterday/$f" "$tmp/today/$f"; done
/usr/bin/python3 - "$tmp" <<'PY'
import sys
import numpy as np
d = sys.argv[1]
rng = np.random.default_rng(2)
mass = np.load(f"{d}/yesterday/mass.npy")
np.save(f"{d}/today/mass.npy", mass * rng.lognormal(0.0, 0.2, mass.shape))
cap = np.load(f"{d}/yesterday/capacity.npy")
np.save(f"{d}/today/capacity.npy", cap * rng.lognormal(0.0, 0.1, cap.shape))
PY
solve() { "$bin" solve --quiet --json --backend cpu "$@"; }
solve --problem "$tmp/yesterday" --out "$tmp/night1" > "$tmp/night1.json"
solve --problem "$tmp/today" > "$tmp/cold.json"
solve --problem "$tmp/today" --init-policy "$tmp/night1/policy.npy" > "$tmp/warm.json"
/usr/bin/python3 - "$tmp" <<'PY'
import json, sys
d = sys.argv[1]
n1, cold, warm = (json.load(open(f"{d}/{k}.json")) for k in ("night1", "cold", "warm"))
print(f"problem: {cold['users']} users x {cold['tasks']} tasks x {cold['segments']} segments, "
      f"{cold['particles']} particles, {cold['threads']} threads, CPU reference")
print(f"{'':36}{'served':>12}{'gap':>9}{'iterations':>12}{'seconds':>9}")
def row(name, s):
    print(f"{name:36}{s['best_served']:12.1f}{100 * s['gap']:8.2f}%{s['iterations_run']:12d}{s['elapsed_s']:9.2f}")
row("yesterday, cold", n1)
print(f"{'today, yesterday policy as it is':36}{warm['init_served']:12.1f}"
      f"{100 * (warm['upper_bound'] - warm['init_served']) / warm['upper_bound']:8.2f}%")
row("today, cold (shape search + swarm)", cold)
row("today, warm (--init-policy)", warm)
print(f"warm vs cold: served {100 * (warm['best_served'] / cold['best_served'] - 1):+.2f}%, "
      f"time x{warm['elapsed_s'] / cold['elapsed_s']:.2f} (shape tau {warm['tau']:g}, beta {warm['beta']:g} "
      f"from yesterday; cold searched tau {cold['tau']:g}, beta {cold['beta']:g})")
PY
