#!/usr/bin/env bash
# The demo county, end to end, on this machine: sets up and builds (deploy/setup.sh),
# generates a synthetic county in the four department systems' formats
# (hutong-county), starts a throw-away PostgreSQL holding the civil-affairs
# database, runs the hub with the county's configuration (deploy/hutong.yaml,
# pointed at a temporary folder) — the four adapters, each department's policy
# and its sinks — waits until every sink has caught up, applies the bureaus'
# later changes (civil-affairs updates and hard deletes), waits again, and
# prints what came in, what was quarantined why, and what each department got.
# Everything it starts is stopped and its folder removed at the end.
#
#   deploy/demo.sh [--households N] [--seed S] [--defect-rate R] [--keep] [--no-setup]
#
#   --households N   size of the county (default 2000 households, ~6 600 people)
#   --seed S         the county's random seed (default 20251115)
#   --defect-rate R  share of rows carrying a known delivery defect (default 0.02)
#   --keep           leave the folder (the departments' files, the hub's journal) for a look
#   --no-setup       skip deploy/setup.sh (packages installed, build/ up to date)
set -euo pipefail

households=2000
seed=20251115
defect_rate=0.02
keep=0
setup=1
while (($#)); do
  case $1 in
    --households) households=${2:?}; shift ;;
    --seed) seed=${2:?}; shift ;;
    --defect-rate) defect_rate=${2:?}; shift ;;
    --keep) keep=1 ;;
    --no-setup) setup=0 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "demo.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
say() { printf '\n== %s\n' "$*"; }

if ((setup)); then
  say "set-up: Debian packages and the build (deploy/setup.sh)"
  "$root/deploy/setup.sh"
fi
bin=${HUTONG_BIN:-$root/build/bin}  # the programs (another build tree: HUTONG_BIN)
for program in hutongd hutong hutong-county; do
  [[ -x $bin/$program ]] || { echo "demo.sh: $bin/$program is missing: run deploy/setup.sh" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/hutong-demo.XXXXXX")
chmod 755 "$work"
hub_pid=
pg_dir=
cleanup() {
  local status=$?
  if [[ -n $hub_pid ]]; then kill -TERM "$hub_pid" 2>/dev/null && wait "$hub_pid" 2>/dev/null || true; fi
  if [[ -n $pg_dir ]]; then "$root/deploy/pg-scratch.sh" stop "$pg_dir" || true; fi
  if ((keep)); then
    echo "demo.sh: left in $work (the departments' files under $work/out, the hub's log in $work/hutongd.log)"
  else
    rm -rf "$work"
  fi
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "the county: $households households, seed $seed, defect rate $defect_rate"
"$bin/hutong-county" --out "$work/county" --households "$households" --seed "$seed" \
  --defect-rate "$defect_rate" | sed -n "1,6p"

say "the civil-affairs database: a throw-away PostgreSQL"
. "$root/deploy/county-lib.sh"
county_database "$work"
pg_dir=$county_pg_dir

say "the hub: deploy/hutong.yaml with its folders under $work"
county_config "$work" "$work/hutong.yaml"
"$bin/hutongd" --check-config "$work/hutong.yaml"
PGPASSFILE=$work/etc/pgpass "$bin/hutongd" --config "$work/hutong.yaml" >"$work/hutongd.log" 2>&1 &
hub_pid=$!
cli() { "$bin/hutong" "$@" --config "$work/hutong.yaml"; }

wait_caught_up() {
  if ! cli connector wait --timeout 900; then
    echo "demo.sh: the hub did not catch up; the end of its log:" >&2
    tail -n 30 "$work/hutongd.log" >&2
    exit 1
  fi
}
say "ingest: every source read, every department's sinks filled"
start=$(date +%s%N)
wait_caught_up
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
printf 'caught up in %d.%01d s\n' $((elapsed_ms / 1000)) $((elapsed_ms % 1000 / 100))

say "the bureaus change things: civil affairs updates rows and hard-deletes some"
county_psql civil_affairs -f "$work/county/civil_affairs/civil_affairs_changes.sql"
sleep 3  # a key reconciliation (every second in the demo) notices the deletes
wait_caught_up

say "summary"
cli summary
echo
echo "What each department holds now (its files sink, newest CSV per record type):"
for folder in "$work"/out/*/; do
  department=$(basename "$folder")
  printf '  %s\n' "$department"
  for file in "$folder"*.csv; do
    [[ -e $file ]] || continue
    rows=$(($(wc -l <"$file") - 1))
    printf '      %-48s %8d rows\n' "$(basename "$file")" "$rows"
  done
done
echo
echo "A student's roster row as two departments receive it (the first row of each file;"
echo "the charity fund's policy masks ID numbers and drops phone numbers):"
for department in education charity_fund; do
  file=$(ls "$work/out/$department"/education.enrollment_*.csv 2>/dev/null | tail -n 1)
  [[ -n $file ]] || continue
  python3 - "$file" "$department" <<'PY'
import csv, sys
rows = csv.reader(open(sys.argv[1], encoding="gb18030", newline=""))
header, first = next(rows), next(rows, None)
if first:
    row = dict(zip(header, first))
    shown = ["身份证件号", "姓名", "学校名称", "年级", "监护人姓名", "监护人联系电话"]
    print("  %-13s %s" % (sys.argv[2], "  ".join("%s %s" % (t, row.get(t) or "-") for t in shown)))
PY
done
echo
echo "The civil-affairs bureau's own database (postgres_sink), rows per table:"
county_psql civil_affairs_hutong -A -t -c \
  "SELECT '      ' || rpad(table_name, 40) || lpad((xpath('/row/c/text()', query_to_xml('SELECT count(*) AS c FROM hutong.' || table_name, false, true, '')))[1]::text, 9) || ' rows' FROM information_schema.tables WHERE table_schema = 'hutong' AND table_name <> '_hutong_sink_offset' ORDER BY 1" || true
