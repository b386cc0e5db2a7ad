#!/usr/bin/env bash
# PostgreSQL and Redis on loopback for `make test`.
#
#   bash scripts/services.sh [start]   use the running ones; else start throwaway instances
#   bash scripts/services.sh stop      stop the throwaway instances this script started
#
# On a machine without them it installs Debian's packages (postgresql, redis-server) and starts
# throwaway servers (trust auth on 127.0.0.1, fsync off, nothing kept) under $SERVICES_DIR.
# Ports: PG_PORT (5432) and REDIS_PORT (6379). `start` also installs Debian's Chromium when it is
# missing (browser tests), unless SKIP_CHROMIUM=1.
set -euo pipefail
cd "$(dirname "$0")/.."

ACTION=${1:-start}
PG_HOST=127.0.0.1
PG_PORT=${PG_PORT:-5432}
REDIS_PORT=${REDIS_PORT:-6379}
# Under /tmp, not the checkout: the postgres user must reach it even when the checkout sits in a
# home directory it cannot enter.
STATE_DIR=${SERVICES_DIR:-/tmp/leapportal-services}
PG_DATA=$STATE_DIR/pg-$PG_PORT
REDIS_DIR=$STATE_DIR/redis-$REDIS_PORT
log() { printf '[services] %s\n' "$*"; }

pg_up() { (exec 3<>"/dev/tcp/$PG_HOST/$PG_PORT") 2>/dev/null; }
redis_up() {
  (exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT" && printf 'PING\r\n' >&3 && timeout 2 head -c5 <&3 | grep -q PONG) 2>/dev/null
}
as_postgres() { # run a command as the postgres user when we are root (initdb refuses root)
  if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi
}
pg_bindir() { dirname "$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1)"; }

apt_install() {
  if [ "$(id -u)" != 0 ]; then log "need root to apt-get install $*"; return 1; fi
  mkdir -p "$STATE_DIR"
  if [ ! -f /tmp/.leapportal-apt-updated ]; then
    apt-get update -q >"$STATE_DIR/apt.log" 2>&1 || { tail -20 "$STATE_DIR/apt.log"; return 1; }
    touch /tmp/.leapportal-apt-updated
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" \
    >>"$STATE_DIR/apt.log" 2>&1 || { tail -20 "$STATE_DIR/apt.log"; return 1; }
}

start_pg() {
  if pg_up; then log "PostgreSQL answers on $PG_HOST:$PG_PORT"; return; fi
  if [ -z "$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null)" ]; then
    log "installing PostgreSQL from Debian's packages"
    apt_install postgresql
  fi
  local bindir; bindir=$(pg_bindir)
  mkdir -p "$STATE_DIR"; chmod 755 "$STATE_DIR"
  if [ ! -s "$PG_DATA/PG_VERSION" ]; then
    rm -rf "$PG_DATA"; mkdir -p "$PG_DATA"
    [ "$(id -u)" = 0 ] && chown postgres "$PG_DATA"
    as_postgres "'$bindir/initdb' -D '$PG_DATA' -A trust -U postgres" >"$STATE_DIR/initdb-$PG_PORT.log" 2>&1 \
      || { tail -20 "$STATE_DIR/initdb-$PG_PORT.log"; exit 1; }
  fi
  # Debian's packaged cluster is left alone: it listens on 5432 with password auth over TCP.
  as_postgres "'$bindir/pg_ctl' -D '$PG_DATA' -l '$PG_DATA/server.log' -w -t 60 \
    -o '-h $PG_HOST -p $PG_PORT -k $PG_DATA -c fsync=off -c synchronous_commit=off -c full_page_writes=off' start" >/dev/null \
    || { tail -20 "$PG_DATA/server.log"; exit 1; }
  pg_up || { log "PostgreSQL did not start (see $PG_DATA/server.log)"; exit 1; }
  log "started a throwaway PostgreSQL on $PG_HOST:$PG_PORT ($PG_DATA)"
}

start_redis() {
  if redis_up; then log "Redis answers on 127.0.0.1:$REDIS_PORT"; return; fi
  command -v redis-server >/dev/null || { log "installing Redis from Debian's packages"; apt_install redis-server; }
  mkdir -p "$REDIS_DIR"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir "$REDIS_DIR" --logfile "$REDIS_DIR/redis.log" --pidfile "$REDIS_DIR/redis.pid"
  for _ in $(seq 1 50); do redis_up && break; sleep 0.1; done
  redis_up || { log "Redis did not start (see $REDIS_DIR/redis.log)"; exit 1; }
  log "started a throwaway Redis on 127.0.0.1:$REDIS_PORT ($REDIS_DIR)"
}

start_chromium() {
  [ "${SKIP_CHROMIUM:-0}" = 1 ] && return
  local chromium=${CHROMIUM_PATH:-/usr/bin/chromium}
  if [ ! -x "$chromium" ]; then
    log "installing Chromium from Debian's packages (browser tests)"
    apt_install chromium
  fi
}

stop_all() {
  if [ -s "$PG_DATA/postmaster.pid" ]; then
    as_postgres "'$(pg_bindir)/pg_ctl' -D '$PG_DATA' -m fast -w stop" >/dev/null && log "stopped PostgreSQL on $PG_PORT"
  else
    log "no throwaway PostgreSQL of ours on $PG_PORT"
  fi
  if [ -s "$REDIS_DIR/redis.pid" ] && kill -0 "$(cat "$REDIS_DIR/redis.pid")" 2>/dev/null; then
    local pid; pid=$(cat "$REDIS_DIR/redis.pid")
    kill "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    log "stopped Redis on $REDIS_PORT"
  else
    log "no throwaway Redis of ours on $REDIS_PORT"
  fi
}

case "$ACTION" in
  start) start_pg; start_redis; start_chromium ;;
  stop) stop_all ;;
  *) echo "usage: $0 [start|stop]" >&2; exit 2 ;;
esac
