#!/usr/bin/env bash
# A throwaway PostgreSQL server for the postgres store's tests (DATABASE_URL).
#
#   eval "$(bash .ci/postgres.sh)"     # start one; sets DATABASE_URL, PG_TEST_DIR, stop_postgres
#   source .ci/postgres.sh             # the same, in this shell
#   stop_postgres                      # or: bash .ci/postgres.sh stop "$PG_TEST_DIR"
#
# Installs Debian's `postgresql` when no server binaries are found. Runs as root (the server
# runs as the `postgres` user: PostgreSQL refuses root) or as any other user (the server runs
# as that user). Listens on 127.0.0.1 only, on a free port, with trust authentication.
# Everything but the `export` lines goes to stderr, so the output can be eval'd.

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
    # Sourced: start in a child bash, then take its exports into this shell.
    __tw_pg_out="$(bash "${BASH_SOURCE[0]}" "$@")" && eval "$__tw_pg_out"
    __tw_pg_status=$?
    unset __tw_pg_out
    return "$__tw_pg_status"
fi

set -euo pipefail

log() { printf 'postgres.sh: %s\n' "$*" >&2; }

# The server's binaries: pg_ctl on PATH, else the newest /usr/lib/postgresql/<ver>/bin.
pg_bin() {
    local dir
    if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v pg_ctl)")"
        return
    fi
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    if [[ -n "$dir" && -x "$dir/pg_ctl" ]]; then
        echo "$dir"
        return
    fi
    return 1
}

# As the user the server runs as.
as_server_user() {
    if [[ "$(id -u)" -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
        return
    fi
    local port
    for port in $(shuf -i 20000-29999 -n 200); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
    return 1
}

stop() {
    local dir="${1:?usage: postgres.sh stop DIR}"
    local bin
    bin="$(pg_bin)" || { log "no pg_ctl found"; return 1; }
    if [[ -f "$dir/data/postmaster.pid" ]]; then
        as_server_user "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
    fi
    # Only ever remove a directory this script made.
    if [[ -f "$dir/.tower-webhook-postgres" ]]; then
        rm -rf "$dir"
    fi
}

start() {
    local bin dir port url
    if ! bin="$(pg_bin)"; then
        if [[ "$(id -u)" -ne 0 ]]; then
            log "PostgreSQL is not installed; run as root to install it, or install postgresql"
            return 1
        fi
        log "installing postgresql (apt-get)"
        apt-get update >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >&2
        bin="$(pg_bin)" || { log "postgresql installed but no pg_ctl found"; return 1; }
    fi
    if [[ "$(id -u)" -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
        log "no 'postgres' user to run the server as (PostgreSQL refuses to run as root)"
        return 1
    fi

    dir="$(mktemp -d "${TMPDIR:-/tmp}/tower-webhook-pg.XXXXXX")"
    touch "$dir/.tower-webhook-postgres"
    chmod 0755 "$dir"
    mkdir "$dir/data"
    chmod 0700 "$dir/data"
    if [[ "$(id -u)" -eq 0 ]]; then
        chown -R postgres:postgres "$dir"
    fi

    # Trust authentication: the server listens on loopback only and lives for one test run.
    as_server_user "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 \
        --no-sync >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        log "initdb failed"
        rm -rf "$dir"
        return 1
    }

    # A port picked as free may be taken before the server binds it: try a few.
    local tries
    for tries in 1 2 3 4 5; do
        port="$(free_port)"
        # fsync=off (and no synchronous commit) only because this server is thrown away after
        # the tests: a crash may lose data, which here costs nothing. Never in production.
        # Connections: the tests run in parallel, each with its own database and pools.
        if as_server_user "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
            -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
            start >&2; then
            break
        fi
        log "could not start on port $port (try $tries)"
        tail -n 5 "$dir/server.log" >&2 || true
        port=""
    done
    if [[ -z "$port" ]]; then
        stop "$dir"
        return 1
    fi
    for _ in $(seq 100); do
        if "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres; then
            break
        fi
        sleep 0.1
    done
    if ! "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres; then
        log "the server did not become ready"
        tail -n 20 "$dir/server.log" >&2 || true
        stop "$dir"
        return 1
    fi

    url="postgres://postgres@127.0.0.1:$port/postgres"
    log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') at $url (data in $dir)"
    local self
    self="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
    printf 'export DATABASE_URL=%q\n' "$url"
    printf 'export PG_TEST_DIR=%q\n' "$dir"
    printf 'stop_postgres() { bash %q stop %q; }\n' "$self" "$dir"
}

case "${1:-start}" in
    start) start ;;
    stop) stop "${2:-}" ;;
    *)
        log "usage: postgres.sh [start] | postgres.sh stop DIR"
        exit 2
        ;;
esac
