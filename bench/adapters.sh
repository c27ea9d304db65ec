#!/usr/bin/env bash
# bench/adapters.sh: the department adapters and the whole county on generated
# data (hutong-county), through real hutongd processes.
#
#   bench/adapters.sh [--households N] [--snapshot-members M] [--keep]
#
# Prints, with the goals of the adapters issue:
# - rows/s of each adapter alone on a county of N households (default 200 000):
#   education CSV (goal >= 300 k rows/s) and XLSX, civil affairs, poverty
#   snapshots, charity fund; each also as a ratio to a baseline measured in the
#   same run on the same files (education: iconv decoding the CSV files and
#   splitting their lines — the bytes alone, nothing parsed; education CSV: the
#   median of three rounds, each with its baseline);
# - the diff of a snapshot of ~M members (default 1 000 000) against the month
#   before (goal <= 10 s);
# - the county end to end: the four adapters and every department's sinks,
#   from "files dropped" to "every sink caught up" (goal <= 60 s), and the hub's
#   peak resident memory (the runners' too).
set -euo pipefail

households=200000
members=1000000
keep=0
while (($#)); do
  case $1 in
    --households) households=${2:?}; shift ;;
    --snapshot-members) members=${2:?}; shift ;;
    --keep) keep=1 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "adapters.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${HUTONG_BIN:-$root/build/bin}  # the programs (another build tree: HUTONG_BIN)
. "$root/deploy/county-lib.sh"
work=$(mktemp -d "${TMPDIR:-/tmp}/hutong-bench.XXXXXX")
chmod 755 "$work"
hub_pid=
county_pg_dir=
cleanup() {
  [[ -n $hub_pid ]] && kill -KILL "$hub_pid" 2>/dev/null || true
  [[ -n $county_pg_dir ]] && "$root/deploy/pg-scratch.sh" stop "$county_pg_dir" || true
  ((keep)) && echo "left in $work" || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ms() { echo $(($(date +%s%N) / 1000000)); }
seconds() { printf '%d.%02d' $(($1 / 1000)) $(($1 % 1000 / 10)); }

# Runs hutongd on CONFIG until every connector has caught up; sets elapsed_ms,
# rows (rows read by the sources), peak_kb (hutongd's VmHWM) and runner_kb
# (the largest runner's).
run_hub() {
  local config=$1 data
  data=$(sed -n 's/^  data_dir: //p' "$config")
  rm -rf "$data"
  local start
  start=$(now_ms)
  PGPASSFILE=$work/etc/pgpass "$bin/hutongd" --config "$config" >"$work/hutongd.log" 2>&1 &
  hub_pid=$!
  if ! "$bin/hutong" connector wait --config "$config" --timeout 1800 >/dev/null; then
    echo "adapters.sh: the hub did not catch up:" >&2
    tail -n 20 "$work/hutongd.log" >&2
    exit 1
  fi
  local done status
  done=$(now_ms)
  status=$("$bin/hutong" connector status --json --config "$config")
  rows=$(python3 -c 'import json,sys; print(sum(c["rows_read"] for c in json.load(sys.stdin)["connectors"] if c.get("kind")=="source"))' <<<"$status")
  # Until the last record any connector handled (the wait's own polling is not
  # part of the work).
  since=$(python3 -c 'import json,sys; print(min([c["ms_since_last_record"] for c in json.load(sys.stdin)["connectors"] if c["ms_since_last_record"] >= 0] or [0]))' <<<"$status")
  elapsed_ms=$((done - since - start))
  peak_kb=$(awk '/VmHWM/ {print $2}' "/proc/$hub_pid/status")
  runner_kb=0
  for pid in $(pgrep -P "$hub_pid" || true); do
    kb=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    ((kb > runner_kb)) && runner_kb=$kb
  done
  kill -TERM "$hub_pid"
  wait "$hub_pid" 2>/dev/null || true
  hub_pid=
}

# A configuration with the named connectors of the county's configuration only.
only() {
  local out=$1
  shift
  python3 - "$work/county.yaml" "$out" "$@" <<'PY'
import re, sys
source, out, names = sys.argv[1], sys.argv[2], set(sys.argv[3:])
lines = open(source, encoding="utf-8").read().split("\n")
start = lines.index("connectors:") + 1
end = next(i for i in range(start, len(lines)) if re.match(r"[a-z]", lines[i]))
blocks, current = [], None
for line in lines[start:end]:
    m = re.match(r"  - name: (\S+)", line)
    if m:
        current = [m.group(1), [line]]
        blocks.append(current)
    elif current and line.startswith("    "):
        current[1].append(line)
kept = [l for name, body in blocks if name in names for l in body]
open(out, "w", encoding="utf-8").write("\n".join(lines[:start] + kept + [""] + lines[end:]))
PY
}

echo "adapters benchmark: a county of $households households (hutong-county), $(nproc) cores"

start=$(now_ms)
"$bin/hutong-county" --out "$work/county" --households "$households" --seed 1 --xlsx-share 0 \
  --utf8-share 0.2 >/dev/null
echo "generated the county (CSV only) in $(seconds $(($(now_ms) - start))) s"
county_database "$work"
county_config "$work" "$work/county.yaml"

# Education CSV, and its baseline: the bytes decoded and split into lines. This
# machine's speed drifts from second to second: three rounds, each with its
# baseline, and the median round is reported.
only "$work/edu.yaml" education_files
rounds=()
for round in 1 2 3; do
  csv_rows=0
  start=$(now_ms)
  for f in "$work"/county/education/*.csv; do
    n=$(iconv -f GB18030 -t UTF-8 -c "$f" | wc -l)
    csv_rows=$((csv_rows + n))
  done
  baseline_ms=$(($(now_ms) - start))
  baseline_rate=$((csv_rows * 1000 / (baseline_ms > 0 ? baseline_ms : 1)))
  run_hub "$work/edu.yaml"
  rounds+=("$((rows * 1000 / elapsed_ms)) $baseline_rate $rows $elapsed_ms")
done
read -r rate baseline_rate rows elapsed_ms < <(printf '%s\n' "${rounds[@]}" | sort -n | sed -n 2p)
printf 'baseline  iconv + line split of the education CSV files   %8d rows/s\n' "$baseline_rate"
printf 'hutong    education_files, CSV: %d rows in %s s          %8d rows/s   ratio %s   (goal >= 300000 rows/s; median of 3 rounds:%s)\n' \
  "$rows" "$(seconds "$elapsed_ms")" "$rate" "$(awk -v a="$rate" -v b="$baseline_rate" 'BEGIN {printf "%.2f", a / b}')" \
  "$(printf ' %s' $(printf '%s\n' "${rounds[@]}" | cut -d' ' -f1))"

for connector in civil_affairs poverty_snapshot charity_fund; do
  only "$work/one.yaml" "$connector"
  run_hub "$work/one.yaml"
  printf 'hutong    %-17s %8d rows in %6s s   %8d rows/s   peak RSS %d MiB\n' "$connector" "$rows" \
    "$(seconds "$elapsed_ms")" $((rows * 1000 / elapsed_ms)) $((peak_kb / 1024))
done

# The whole county, end to end: every adapter, every department's sinks.
run_hub "$work/county.yaml"
printf 'hutong    county end to end: %d rows read, every sink caught up in %s s (goal <= 60 s); peak RSS hutongd %d MiB, largest runner %d MiB\n' \
  "$rows" "$(seconds "$elapsed_ms")" $((peak_kb / 1024)) $((runner_kb / 1024))

# Education XLSX: the same county with every education export as XLSX.
rm -rf "$work/county/education"
"$bin/hutong-county" --out "$work/xlsx" --households "$households" --seed 1 --xlsx-share 1 >/dev/null
mv "$work/xlsx/education" "$work/county/education"
only "$work/edu.yaml" education_files
run_hub "$work/edu.yaml"
printf 'hutong    education_files, XLSX: %d rows in %s s        %8d rows/s\n' "$rows" \
  "$(seconds "$elapsed_ms")" $((rows * 1000 / elapsed_ms))

# The snapshot diff: ~M registered members, the month before already applied.
snap_households=$((members * 10 / 33))
"$bin/hutong-county" --out "$work/big" --households "$snap_households" --poor-share 1 --months 2 \
  --seed 2 >/dev/null
mkdir -p "$work/snap"
months=("$work"/big/poverty/*.csv)
cp "${months[0]}" "$work/snap/"
only "$work/snap.yaml" poverty_snapshot
sed -i -e "s|$work/county/poverty|$work/snap|" "$work/snap.yaml"
run_hub "$work/snap.yaml"
first_rows=$rows
first_ms=$elapsed_ms
cp "${months[1]}" "$work/snap/"
# Both snapshots in the folder, a fresh journal: the first applied, then the diff.
run_hub "$work/snap.yaml"
diff_ms=$((elapsed_ms - first_ms))
printf 'hutong    poverty snapshots of %d members: the first month applied in %s s, the next month'"'"'s diff in %s s more (goal <= 10 s)\n' \
  "$first_rows" "$(seconds "$first_ms")" "$(seconds "$diff_ms")"
