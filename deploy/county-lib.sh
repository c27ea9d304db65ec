# Shared by deploy/demo.sh and bench/adapters.sh (sourced, not run): the
# county's databases on a throw-away PostgreSQL, and the county's
# configuration (deploy/hutong.yaml) pointed at a working folder.
#
#   county_database WORK      needs WORK/county (hutong-county's output); starts
#                             the server, loads civil_affairs.sql, creates the
#                             hub's roles (read-only reader, the bureau's sink)
#                             and WORK/etc/{civil_affairs.password,pgpass};
#                             sets county_pg_dir, county_pg_port, county_admin
#   county_psql DB ARGS...    psql as the administrator on database DB
#   county_config WORK OUT    writes deploy/hutong.yaml to OUT with its folders,
#                             database addresses and feed port moved into WORK,
#                             and the databases polled every 0.5 s (hard deletes
#                             found within a second) so a demo need not wait

county_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

county_psql() {
  local db=$1
  shift
  psql -X -q -v ON_ERROR_STOP=1 "${county_admin/dbname=postgres/dbname=$db}" "$@"
}

county_database() {
  local work=$1 started reader_password sink_password
  started=$("$county_root/deploy/pg-scratch.sh" start)
  county_pg_dir=$(sed -n 's/^dir=//p' <<<"$started")
  county_admin=$(sed -n 's/^conninfo=//p' <<<"$started")
  county_pg_port=$(sed -n 's/.*port=\([0-9]*\).*/\1/p' <<<"$county_admin")
  county_psql postgres -c "CREATE DATABASE civil_affairs" -c "CREATE DATABASE civil_affairs_hutong"
  county_psql civil_affairs -f "$work/county/civil_affairs/civil_affairs.sql"
  reader_password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  sink_password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  # The hub reads the bureau's tables and nothing else; the bureau's own copy
  # of the shared data lives in another database the sink may create tables in.
  county_psql civil_affairs \
    -c "CREATE ROLE hutong_reader LOGIN PASSWORD '$reader_password'" \
    -c "GRANT USAGE ON SCHEMA public TO hutong_reader" \
    -c "GRANT SELECT ON ALL TABLES IN SCHEMA public TO hutong_reader"
  county_psql civil_affairs_hutong \
    -c "CREATE ROLE hutong_sink LOGIN PASSWORD '$sink_password'" \
    -c "GRANT CREATE ON DATABASE civil_affairs_hutong TO hutong_sink"
  mkdir -p "$work/etc"
  printf '%s\n' "$reader_password" >"$work/etc/civil_affairs.password"
  printf '127.0.0.1:%s:civil_affairs_hutong:hutong_sink:%s\n' "$county_pg_port" "$sink_password" \
    >"$work/etc/pgpass"
  chmod 600 "$work/etc/civil_affairs.password" "$work/etc/pgpass"
}

county_config() {
  local work=$1 out=$2 feed_port=$((20000 + RANDOM % 40000))
  sed -e "s|/var/lib/hutong|$work/data|g" \
      -e "s|/srv/hutong/drop/education|$work/county/education|g" \
      -e "s|/srv/hutong/drop/poverty|$work/county/poverty|g" \
      -e "s|/srv/hutong/share/fund|$work/county/fund|g" \
      -e "s|/srv/hutong|$work|g" \
      -e "s|/etc/hutong|$work/etc|g" \
      -e "s|host=civil-affairs-db port=5432|host=127.0.0.1 port=$county_pg_port|g" \
      -e "s|tcp://127.0.0.1:7450|tcp://127.0.0.1:$feed_port|g" \
      -e "s|reconcile_interval: 300000|reconcile_interval: 1000|" \
      -e "s|poll_interval_ms: 5000|poll_interval_ms: 500|" \
      "$county_root/deploy/hutong.yaml" >"$out"
}
