#!/usr/bin/env bash
# pg_harness.sh: a private, throw-away PostgreSQL 15 server for the test suites.
#
#   pg_harness.sh start   STATE_DIR          initdb into a fresh temporary directory, start the
#                                            server on a private Unix socket (no TCP listener),
#                                            write the base URL to STATE_DIR/url
#   pg_harness.sh url     STATE_DIR          print the base URL (database "stargap")
#   pg_harness.sh createdb STATE_DIR NAME    (re)create database NAME, print its URL
#   pg_harness.sh restart STATE_DIR          restart the server (pool reconnection tests)
#   pg_harness.sh exec    STATE_DIR [--db NAME] -- CMD ARGS...
#                                            run CMD with SG_TEST_PG_URL set (and every argument
#                                            "@PG_URL@" replaced) to the URL of a fresh database
#                                            NAME (default: the base database)
#   pg_harness.sh stop    STATE_DIR          stop the server and remove every file it made
#
# The server never touches a port, a socket directory or a data directory of any other server:
# everything lives in one mktemp directory recorded in STATE_DIR/root. PostgreSQL refuses to run
# as root, so when the harness runs as root (CI) the server runs as the `postgres` system user
# (created by Debian's postgresql package) on directories it owns. Missing binaries are an error,
# never a silent skip: `make deps` installs them. The test server runs with fsync and
# synchronous_commit off (throw-away data); SG_PG_DURABLE=1 keeps PostgreSQL's durable defaults
# (used by the benchmarks so that write figures include the WAL flush).
set -euo pipefail

PG_BIN="${SG_PG_BIN:-/usr/lib/postgresql/15/bin}"
PG_USER=stargap        # superuser created by initdb; trust authentication on the private socket
PG_PORT=5432           # only names the socket file inside the private directory

die() { echo "pg_harness: $*" >&2; exit 1; }

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

[ $# -ge 2 ] || usage
cmd=$1
state=$2
shift 2

# Runs a command as the server's owner (postgres when we are root, else ourselves).
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

check_bins() {
    local b
    for b in initdb pg_ctl postgres psql pg_isready; do
        [ -x "$PG_BIN/$b" ] || die "missing $PG_BIN/$b: PostgreSQL 15 server binaries are not installed (run 'make deps' or apt-get install postgresql-15)"
    done
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || die "running as root but the 'postgres' system user does not exist (install Debian's postgresql package)"
        command -v runuser >/dev/null || die "running as root and runuser is missing"
    fi
}

root_dir() {
    [ -f "$state/root" ] || die "no server recorded in $state (run '$0 start $state' first)"
    cat "$state/root"
}

sock_dir() { echo "$(root_dir)/sock"; }

url_for() { # url_for DBNAME
    printf 'postgres://%s@/%s?host=%s&port=%s\n' "$PG_USER" "$1" "$(sock_dir)" "$PG_PORT"
}

psql_admin() { # psql_admin SQL: run one statement as the superuser on the maintenance database
    PGOPTIONS="-c client_min_messages=warning" \
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$(sock_dir)" -p "$PG_PORT" -U "$PG_USER" \
        -d postgres -c "$1"
}

do_stop() {
    [ -f "$state/root" ] || return 0
    local root
    root=$(cat "$state/root")
    if [ -d "$root/data" ] && [ -f "$root/data/postmaster.pid" ]; then
        as_owner "$PG_BIN/pg_ctl" -D "$root/data" -m fast -w -t 60 stop >/dev/null 2>&1 ||
            as_owner "$PG_BIN/pg_ctl" -D "$root/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    case "$root" in
        */stargap-pg.*) rm -rf -- "$root" ;;
        *) die "refusing to remove unexpected directory '$root'" ;;
    esac
    rm -f -- "$state/root" "$state/url"
}

start_server() {
    local root=$1
    if ! as_owner "$PG_BIN/pg_ctl" -D "$root/data" -l "$root/server.log" -w -t 60 start \
        >/dev/null; then
        echo "pg_harness: server failed to start; log follows" >&2
        cat "$root/server.log" >&2 || true
        return 1
    fi
}

do_start() {
    check_bins
    mkdir -p "$state"
    do_stop # a stale server from an interrupted run
    local root
    # As root the directory must be reachable by the postgres user: always under /tmp then.
    local base="${TMPDIR:-/tmp}"
    [ "$(id -u)" = 0 ] && base=/tmp
    root=$(mktemp -d "$base/stargap-pg.XXXXXX")
    # A Unix socket path is limited to 107 bytes.
    [ ${#root} -le 80 ] || { rm -rf -- "$root"; die "temporary directory path too long for a socket: $root (set TMPDIR)"; }
    echo "$root" >"$state/root"
    mkdir -p "$root/data" "$root/sock"
    if [ "$(id -u)" = 0 ]; then
        chown -R postgres: "$root"
        chmod 0755 "$root" # lets the test processes reach the socket directory
    fi
    if ! as_owner "$PG_BIN/initdb" -D "$root/data" -U "$PG_USER" -A trust -E UTF8 --locale=C \
        --no-sync >"$root/initdb.log" 2>&1; then
        cat "$root/initdb.log" >&2
        do_stop
        die "initdb failed"
    fi
    # A test server: durability is not needed, isolation is. No TCP listener at all.
    local durability="fsync = off
synchronous_commit = off
full_page_writes = off"
    [ "${SG_PG_DURABLE:-0}" = 1 ] && durability="# durable defaults (SG_PG_DURABLE=1)"
    cat >>"$root/data/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$root/sock'
unix_socket_permissions = 0777
port = $PG_PORT
max_connections = 200
$durability
shared_buffers = 256MB
max_wal_size = 4GB
log_min_messages = warning
log_min_error_statement = panic
timezone = 'UTC'
EOF
    start_server "$root" || { do_stop; die "cannot start PostgreSQL"; }
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$root/sock" -p "$PG_PORT" -U "$PG_USER" \
        -d postgres -c "CREATE DATABASE stargap" >/dev/null || { do_stop; die "createdb failed"; }
    url_for stargap >"$state/url"
    cat "$state/url"
}

do_createdb() { # do_createdb NAME
    local name=$1
    [[ "$name" =~ ^[a-z_][a-z0-9_]{0,62}$ ]] || die "bad database name '$name'"
    psql_admin "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null
    psql_admin "CREATE DATABASE $name" >/dev/null
    url_for "$name"
}

case "$cmd" in
    start) do_start ;;
    stop) do_stop ;;
    url) [ -f "$state/url" ] || die "no server recorded in $state"; cat "$state/url" ;;
    createdb) [ $# -eq 1 ] || usage; do_createdb "$1" ;;
    restart)
        root=$(root_dir)
        as_owner "$PG_BIN/pg_ctl" -D "$root/data" -m fast -w -t 60 stop >/dev/null
        start_server "$root"
        ;;
    exec)
        db=""
        if [ "${1:-}" = "--db" ]; then db=$2; shift 2; fi
        [ "${1:-}" = "--" ] && shift
        [ $# -ge 1 ] || usage
        if [ -n "$db" ]; then url=$(do_createdb "$db"); else url=$(url_for stargap); fi
        export SG_TEST_PG_URL="$url"
        export SG_PG_HARNESS="$0" SG_PG_STATE="$state"
        args=()
        for a in "$@"; do args+=("${a//@PG_URL@/"$url"}"); done
        exec "${args[@]}"
        ;;
    *) usage ;;
esac
