#!/usr/bin/env bash
# Make sure PostgreSQL and Redis answer on loopback, for `make test`.
# Uses the running ones; on a machine without them, installs Debian's packages and starts
# throwaway instances (trust auth, nothing kept) under var/services/.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_HOST=127.0.0.1 PG_PORT=${PG_PORT:-5432}
REDIS_PORT=${REDIS_PORT:-6379}
STATE_DIR=${SERVICES_DIR:-$PWD/var/services}
log() { printf '[services] %s\n' "$*"; }

pg_up() { (exec 3<>"/dev/tcp/$PG_HOST/$PG_PORT") 2>/dev/null; }
redis_up() {
  (exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT" && printf 'PING\r\n' >&3 && timeout 2 head -c5 <&3 | grep -q PONG) 2>/dev/null
}

apt_install() {
  if [ "$(id -u)" != 0 ]; then log "need root to apt-get install $*"; return 1; fi
  if [ ! -f /tmp/.leapportal-apt-updated ]; then
    apt-get update -q >"$STATE_DIR/apt.log" 2>&1 && touch /tmp/.leapportal-apt-updated
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >>"$STATE_DIR/apt.log" 2>&1 \
    || { tail -20 "$STATE_DIR/apt.log"; return 1; }
}

mkdir -p "$STATE_DIR"

if pg_up; then
  log "PostgreSQL answers on $PG_HOST:$PG_PORT"
else
  if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then :; else
    log "installing PostgreSQL from Debian's packages"
    apt_install postgresql
  fi
  started=false
  # A packaged cluster that is merely stopped: start it as Debian would.
  if command -v pg_ctlcluster >/dev/null && [ -n "$(ls /etc/postgresql 2>/dev/null)" ]; then
    ver=$(ls /etc/postgresql | sort -V | tail -1)
    if pg_ctlcluster --skip-systemctl-redirect "$ver" main start >/dev/null 2>&1; then
      for _ in $(seq 1 30); do pg_up && break; sleep 0.3; done
      pg_up && started=true && log "started the packaged cluster $ver/main"
    fi
  fi
  if ! $started; then
    bindir=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")
    data="$STATE_DIR/pgdata"
    run_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
    if [ ! -s "$data/PG_VERSION" ]; then
      rm -rf "$data"; mkdir -p "$data"
      [ "$(id -u)" = 0 ] && chown -R postgres "$STATE_DIR/pgdata" && chmod 755 "$STATE_DIR"
      run_pg "'$bindir/initdb' -D '$data' -A trust -U postgres" >"$STATE_DIR/initdb.log" 2>&1
    fi
    run_pg "'$bindir/pg_ctl' -D '$data' -l '$data/server.log' -w -o '-h $PG_HOST -p $PG_PORT -k $data -c fsync=off' start" >/dev/null
    pg_up && log "started a throwaway PostgreSQL in $data"
  fi
  pg_up || { log "PostgreSQL did not start"; exit 1; }
fi

if redis_up; then
  log "Redis answers on 127.0.0.1:$REDIS_PORT"
else
  command -v redis-server >/dev/null || { log "installing Redis from Debian's packages"; apt_install redis-server; }
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir "$STATE_DIR" --logfile "$STATE_DIR/redis.log"
  for _ in $(seq 1 30); do redis_up && break; sleep 0.2; done
  redis_up && log "started Redis on 127.0.0.1:$REDIS_PORT" || { log "Redis did not start"; exit 1; }
fi

if [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
  log "installing Chromium from Debian's packages (browser tests)"
  apt_install chromium
fi
