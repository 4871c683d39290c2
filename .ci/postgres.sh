#!/usr/bin/env bash
# A throw-away PostgreSQL server on loopback for the cluster tests (Debian's postgresql package).
#   source .ci/postgres.sh start   -> exports DSE_TEST_POSTGRES=postgresql://dse:dse@127.0.0.1:PORT/dse
#   .ci/postgres.sh stop           -> stops it and deletes its data folder
# Installs the package when it is missing and this shell may (root and apt-get).
PG_PORT="${PG_PORT:-54329}"
PG_DIR="${PG_DIR:-/tmp/dse-ci-postgres}"

pg_bin() {
    local bin
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    if [ -z "$bin" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null 2>&1 \
            || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null; }
        bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    fi
    echo "$bin"
}

pg_as() {   # initdb and postgres refuse to run as root: run them as the postgres user then
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_start() {
    local bin; bin=$(pg_bin)
    [ -n "$bin" ] || { echo "postgres.sh: no PostgreSQL server binaries (apt-get install postgresql)" >&2; return 1; }
    pg_stop >/dev/null 2>&1 || true
    mkdir -p "$PG_DIR"
    [ "$(id -u)" = 0 ] && chown postgres "$PG_DIR"
    pg_as "$bin/initdb" -D "$PG_DIR/data" -U postgres -A trust >/dev/null
    pg_as "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
        -o "-h 127.0.0.1 -p $PG_PORT -k $PG_DIR -c max_connections=200" start >/dev/null
    "$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -q -c "CREATE ROLE dse LOGIN PASSWORD 'dse'" \
        -c "CREATE DATABASE dse OWNER dse" >/dev/null
    sed -i 's/trust$/scram-sha-256/' "$PG_DIR/data/pg_hba.conf"   # passwords are checked from now on
    pg_as "$bin/pg_ctl" -D "$PG_DIR/data" reload >/dev/null
    export DSE_TEST_POSTGRES="postgresql://dse:dse@127.0.0.1:$PG_PORT/dse"
    echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT ($DSE_TEST_POSTGRES)"
}

pg_stop() {
    local bin; bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    if [ -n "$bin" ] && [ -f "$PG_DIR/data/postmaster.pid" ]; then
        pg_as "$bin/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null
    fi
    rm -rf "$PG_DIR"
}

case "${1:-}" in
    start) pg_start ;;
    stop) pg_stop ;;
    *) echo "usage: source .ci/postgres.sh start | .ci/postgres.sh stop" >&2 ;;
esac
