#!/usr/bin/env bash
# Entrypoint of the PostgreSQL image built from Debian's packages. It honours
# the public postgres image's interface so one compose file works with both:
# on the first start (empty $PGDATA) it runs initdb with POSTGRES_USER and
# POSTGRES_PASSWORD, allows password logins (scram-sha-256) from the network,
# creates POSTGRES_DB, runs /docker-entrypoint-initdb.d/*.sql and *.sh against
# a socket-only server, then execs the server in the foreground.
set -Eeuo pipefail

if [ "${1:0:1}" = '-' ]; then
  set -- postgres "$@"
fi

init_files() {
  local f
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh)
        echo "init: running $f"
        # shellcheck disable=SC1090  # the init scripts are the user's
        if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
      *.sql)
        echo "init: running $f"
        psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" \
             --dbname "$POSTGRES_DB" -f "$f" ;;
      *) [ -e "$f" ] && echo "init: ignoring $f" ;;
    esac
  done
}

if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  export POSTGRES_USER=${POSTGRES_USER:-postgres}
  export POSTGRES_DB=${POSTGRES_DB:-$POSTGRES_USER}
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo "error: POSTGRES_PASSWORD is not set (the database would be open to the network)" >&2
    exit 1
  fi
  # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a list of flags
  initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
         --encoding=UTF8 --locale=C.UTF-8 ${POSTGRES_INITDB_ARGS:-} -D "$PGDATA"
  printf '\nhost all all all scram-sha-256\n' >> "$PGDATA/pg_hba.conf"
  printf "\nlisten_addresses = '*'\n" >> "$PGDATA/postgresql.conf"

  pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start
  if [ "$POSTGRES_DB" != postgres ]; then
    psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname postgres \
         -c "CREATE DATABASE \"$POSTGRES_DB\""
  fi
  init_files
  pg_ctl -D "$PGDATA" -m fast -w stop
  echo "init: done; starting the server"
fi

exec "$@"
