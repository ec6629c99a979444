#!/usr/bin/env bash
# The PostgreSQL server the tests and the metrics benchmark use: start | stop | status | url.
#
# Uses Debian's postgresql server binaries (installed with apt-get when missing, as CI runs on a fresh
# machine), a throwaway cluster outside the repository, 127.0.0.1 only, a fixed port and trust auth for
# loopback. Idempotent: `start` on a running server only says so. Durability is switched off (fsync,
# synchronous_commit): this server holds test data only.
set -euo pipefail

PORT="${GRIPCTL_POSTGRES_PORT:-54329}"
DB=gripctl_test

die() { echo "postgres.sh: $*" >&2; exit 1; }

find_bindir() {
    # The newest installed major version; Debian keeps server binaries out of PATH, under this folder.
    local initdb
    initdb=$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)
    [[ -n "$initdb" ]] && dirname "$initdb"
}

ensure_installed() {
    if [[ -z "$(find_bindir)" ]]; then
        [[ $(id -u) -eq 0 ]] || die "PostgreSQL server binaries are missing; run as root or: sudo apt-get install -y postgresql"
        echo "postgres.sh: installing Debian's postgresql package" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        # The package would also create and start a cluster on port 5432 via its own service; we never use it.
        apt-get install -y -qq postgresql >/dev/null
    fi
    BIN=$(find_bindir) || die "postgresql installed but no initdb under /usr/lib/postgresql/*/bin"
    MAJOR=$(basename "$(dirname "$BIN")")
    if [[ $(id -u) -eq 0 ]]; then
        # initdb refuses to run as root, and the postgres user cannot enter root's 0700 home: keep the
        # cluster under /var/lib, owned by postgres.
        DATA="${GRIPCTL_POSTGRES_DIR:-/var/lib/gripctl/postgres/$MAJOR}"
        AS=(runuser -u postgres --)
    else
        DATA="${GRIPCTL_POSTGRES_DIR:-$HOME/.cache/gripctl/postgres/$MAJOR}"
        AS=()
    fi
    LOG="$DATA.log"
}

pg() { "${AS[@]}" "$@"; }

running() { pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

ready() { "$BIN/pg_isready" -h 127.0.0.1 -p "$PORT" -q; }

# A server found running either answers, or is still dying (killed a moment ago, e.g. when a session
# ended): wait up to 10 s for one or the other. Returns 0 only for a server that answers.
answering() {
    local _
    for _ in $(seq 1 20); do
        running || return 1
        ready && return 0
        sleep 0.5
    done
    die "a PostgreSQL process owns $DATA but does not answer on 127.0.0.1:$PORT; see $LOG"
}

start() {
    ensure_installed
    if [[ ! -f "$DATA/PG_VERSION" ]]; then
        mkdir -p "$DATA"
        [[ ${#AS[@]} -eq 0 ]] || chown -R postgres:postgres "$(dirname "$DATA")"
        chmod 0700 "$DATA"
        pg "$BIN/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
        cat >>"$DATA/postgresql.conf" <<EOF
# gripctl test server
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DATA'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 50
EOF
        # Trust loopback TCP only; initdb's default local-socket line stays.
        printf 'local all all trust\nhost all all 127.0.0.1/32 trust\n' >"$DATA/pg_hba.conf"
        [[ ${#AS[@]} -eq 0 ]] || chown postgres:postgres "$DATA/postgresql.conf" "$DATA/pg_hba.conf"
    fi
    if answering; then
        echo "postgres.sh: PostgreSQL $MAJOR already running on 127.0.0.1:$PORT ($DATA)"
    else
        touch "$LOG"
        [[ ${#AS[@]} -eq 0 ]] || chown postgres:postgres "$LOG"
        pg "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start >/dev/null \
            || die "PostgreSQL did not start; see $LOG (is port $PORT taken? set GRIPCTL_POSTGRES_PORT)"
        echo "postgres.sh: PostgreSQL $MAJOR started on 127.0.0.1:$PORT ($DATA)"
    fi
    local exists
    exists=$(pg "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$DB'")
    [[ "$exists" == 1 ]] || pg "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres "$DB"
}

stop() {
    ensure_installed
    if running; then
        pg "$BIN/pg_ctl" -D "$DATA" -w -m fast stop >/dev/null
        echo "postgres.sh: stopped"
    else
        echo "postgres.sh: not running"
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) ensure_installed; if running; then echo running; else echo stopped; exit 3; fi ;;
    url) echo "postgresql+psycopg://postgres@127.0.0.1:$PORT/$DB" ;;
    *) die "usage: scripts/postgres.sh start|stop|status|url" ;;
esac
