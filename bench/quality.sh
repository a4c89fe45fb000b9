#!/usr/bin/env bash
# Solution quality and solve time on the fourteen instances of bench/RESULTS.md (the built-in
# one, ten generated, MovieLens to genres at capacities 20, 40 and 80), for up to four variants
# side by side in one run: each instance is solved by every variant before the next instance.
# A variant is LABEL=BINARY, optionally followed by solve options after a comma:
#   bench/quality.sh new=./build-cpu-only/attnswarm old=/tmp/attnswarm-old
#   bench/quality.sh screened=./build-cpu-only/attnswarm 'every=./build-cpu-only/attnswarm,--search-swarms 1000'
# The instances are made once under $ATTNSWARM_QUALITY_DIR (default /tmp/attnswarm-quality) and
# reused; each summary is kept there as VARIANT/INSTANCE.json. CPU reference (--backend cpu).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: bench/quality.sh LABEL=BINARY[,SOLVE OPTIONS] ..." >&2; exit 2; }
work=${ATTNSWARM_QUALITY_DIR:-/tmp/attnswarm-quality}
data=$(cd .. && pwd)/shared/data/movielens-small
mkdir -p "$work"
first_bin=${1#*=}; first_bin=${first_bin%%,*}

generate() {  # NAME, generate options
  local name=$1; shift
  [ -d "$work/$name" ] || "$first_bin" generate --quiet "$@" --out "$work/$name"
}
generate g50k_32x4 --users 50000 --tasks 32 --segments 4 --seed 1
generate g200k_32x4 --users 200000 --tasks 32 --segments 4 --seed 1
generate g30k_100x8 --users 30000 --tasks 100 --segments 8 --seed 5
for seed in 2 3; do
  for ratio in 0.5 1 2; do
    generate "g20k_24x3_s${seed}_c${ratio}" --users 20000 --tasks 24 --segments 3 --seed "$seed" --capacity-ratio "$ratio"
  done
done
generate g10k_200x2 --users 10000 --tasks 200 --segments 2 --seed 7
import_genres() {  # the README's MovieLens example; every genre at capacity $1
  local name=movielens_c$1
  [ -d "$work/$name" ] && return
  local args=(--quiet --events "$data/ratings.csv" --user-col userId --task-col movieId --value-col rating
              --time-col timestamp --half-life 730 --task-map "$data/movies.csv" --map-from-col movieId
              --map-to-col genres --map-split '|')
  "$first_bin" import "${args[@]}" --out "$work/$name.names"
  awk -F, -v c="$1" 'NR==1{print "task,capacity"} NR>1{print $2","c}' "$work/$name.names/tasks.csv" > "$work/$name.csv"
  "$first_bin" import "${args[@]}" --capacity "$work/$name.csv" --out "$work/$name"
  rm -rf "$work/$name.names" "$work/$name.csv"
}
for c in 20 40 80; do import_genres "$c"; done

instances=(builtin g50k_32x4 g200k_32x4 g30k_100x8 g20k_24x3_s2_c0.5 g20k_24x3_s2_c1 g20k_24x3_s2_c2
           g20k_24x3_s3_c0.5 g20k_24x3_s3_c1 g20k_24x3_s3_c2 g10k_200x2 movielens_c40 movielens_c20 movielens_c80)
labels=()
for variant in "$@"; do labels+=("${variant%%=*}"); mkdir -p "$work/${variant%%=*}"; done
for inst in "${instances[@]}"; do
  for variant in "$@"; do
    label=${variant%%=*}; rest=${variant#*=}; bin=${rest%%,*}; opts=""
    [ "$rest" != "$bin" ] && opts=${rest#*,}
    problem=(); [ "$inst" = builtin ] || problem=(--problem "$work/$inst")
    # shellcheck disable=SC2086 # the options are words
    "$bin" solve --quiet --json --backend cpu "${problem[@]}" $opts > "$work/$label/$inst.json"
  done
done
/usr/bin/python3 - "$work" "${labels[@]}" -- "${instances[@]}" <<'PY'
import json, sys
args = sys.argv[2:]
work, labels, instances = sys.argv[1], args[:args.index("--")], args[args.index("--") + 1:]
print("| problem | " + " | ".join(f"{l}: shape, served, gap, swarms/shapes, search s, total s" for l in labels) + " |")
print("|---|" + "---|" * len(labels))
for inst in instances:
    cells = []
    for l in labels:
        j = json.load(open(f"{work}/{l}/{inst}.json"))
        trials = j["shape_search"]
        swarmed = sum(1 for t in trials if t["best_served"] is not None)
        cells.append(f"({j['tau']:g},{j['beta']:g}), {j['best_served']:,.1f}, {100 * j['gap']:.2f}%, "
                     f"{swarmed}/{len(trials)}, {j['phase_s']['shape_search']:.2f}, {j['elapsed_s']:.2f}")
    print(f"| {inst} | " + " | ".join(cells) + " |")
PY
