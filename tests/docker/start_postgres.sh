#!/usr/bin/env bash
# A PostgreSQL server on loopback for the production instance's tests (tests/docker/test_fleet_queue.py):
# Debian's postgresql package (installed when missing), its own cluster in $STATE, listening on
# 127.0.0.1:$PORT only, trust authentication for local connections (no password anywhere: nothing
# but this machine reaches it). The tests create and drop their own database in it.
#
#   tests/docker/start_postgres.sh      (idempotent: a server that answers is kept)
#
# The tests read the same defaults (tests/docker/fleet.py).
set -euo pipefail
PORT="${EVAL_PG_PORT:-55432}"
STATE="${EVAL_PG_DIR:-/var/lib/vllm-eval-postgres}"
RUN=/run/vllm-eval-postgres

find_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
BIN="$(find_bin)"
if [ -z "$BIN" ] || [ ! -x "$BIN/initdb" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    BIN="$(find_bin)"
fi
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

if as_postgres "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
    echo "PostgreSQL already answers at 127.0.0.1:$PORT"
    exit 0
fi
mkdir -p "$STATE" "$RUN"
[ "$(id -u)" = 0 ] && chown postgres:postgres "$STATE" "$RUN"
if [ ! -f "$STATE/data/PG_VERSION" ]; then
    as_postgres "$BIN/initdb" -D "$STATE/data" -U postgres --auth=trust --encoding=UTF8 >/dev/null
fi
as_postgres "$BIN/pg_ctl" -D "$STATE/data" -l "$STATE/server.log" -w -t 60 start \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k $RUN -c max_connections=200" >/dev/null
echo "PostgreSQL started at 127.0.0.1:$PORT (data $STATE/data, log $STATE/server.log)"
