#!/usr/bin/env bash
# A throw-away PostgreSQL server from Debian's packages, for the demo county and
# the tests: its own data directory in a temporary folder, listening on
# 127.0.0.1 and a free port, durability off (it is thrown away).
#
#   deploy/pg-scratch.sh start        prints two lines: "dir=<folder>" and
#                                     "conninfo=host=127.0.0.1 port=<p> user=postgres dbname=postgres"
#   deploy/pg-scratch.sh stop DIR     stops that server and removes its folder
#   deploy/pg-scratch.sh restart DIR  stops and starts it again on the same port
#   deploy/pg-scratch.sh halt DIR     stops it, keeping its folder (an outage)
#   deploy/pg-scratch.sh resume DIR   starts a halted server again on its port
#
# initdb refuses to run as root, so as root the server runs as the `postgres`
# user the Debian package creates.
set -euo pipefail

die() { echo "pg-scratch.sh: $*" >&2; exit 1; }

bindir=${PG_BINDIR:-}
if [[ -z $bindir ]]; then
  for d in /usr/lib/postgresql/*/bin; do [[ -x $d/initdb ]] && bindir=$d; done
fi
[[ -n $bindir && -x $bindir/initdb ]] ||
  die "no PostgreSQL server found (install the Debian package 'postgresql': deploy/setup.sh does)"

as_owner() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_server() {
  local dir=$1 port=$2
  as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >/dev/null
}

case ${1:-} in
  start)
    dir=$(mktemp -d "${TMPDIR:-/tmp}/hutong-pg.XXXXXX")
    chmod 755 "$dir"
    [[ $(id -u) -eq 0 ]] && chown postgres: "$dir"
    as_owner "$bindir/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --no-locale --no-sync \
      >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; rm -rf "$dir"; die "initdb failed"; }
    # A port that is free now; another process may take it before the server
    # binds, so a few tries.
    for attempt in 1 2 3 4 5; do
      port=$((20000 + RANDOM % 40000))
      if start_server "$dir" "$port" 2>/dev/null; then
        echo "$port" >"$dir/port"
        echo "dir=$dir"
        echo "conninfo=host=127.0.0.1 port=$port user=postgres dbname=postgres"
        exit 0
      fi
    done
    cat "$dir/server.log" >&2 || true
    rm -rf "$dir"
    die "the server did not start (log above)"
    ;;
  stop)
    dir=${2:?usage: pg-scratch.sh stop DIR}
    [[ -f $dir/port ]] || die "$dir is not a folder made by 'pg-scratch.sh start'"
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  restart)
    dir=${2:?usage: pg-scratch.sh restart DIR}
    [[ -f $dir/port ]] || die "$dir is not a folder made by 'pg-scratch.sh start'"
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    start_server "$dir" "$(cat "$dir/port")"
    ;;
  halt)
    dir=${2:?usage: pg-scratch.sh halt DIR}
    [[ -f $dir/port ]] || die "$dir is not a folder made by 'pg-scratch.sh start'"
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    ;;
  resume)
    dir=${2:?usage: pg-scratch.sh resume DIR}
    [[ -f $dir/port ]] || die "$dir is not a folder made by 'pg-scratch.sh start'"
    start_server "$dir" "$(cat "$dir/port")"
    ;;
  *)
    sed -n '2,14p' "$0" >&2
    exit 2
    ;;
esac
