#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the demo's PostgreSQL tests.
#
#   eval "$(.ci/postgres.sh start)"   # prints `export` lines: the cluster's
#                                     # directory and EVENKEEL_TEST_DATABASE_URL
#   cargo test -p evenkeel-demo       # the PostgreSQL tests now run
#   .ci/postgres.sh stop              # stops it and deletes its directory
#
# `start` creates a fresh cluster (initdb) in a new temporary directory,
# listening on 127.0.0.1 only, on the first free port from 54329 up (or
# EVENKEEL_PG_PORT), with trust authentication: it holds nothing but test
# data and is deleted by `stop`. PostgreSQL refuses to run as root, so as
# root the cluster belongs to the `postgres` user (created by Debian's
# package; created here when missing). When no PostgreSQL server is
# installed, `start` installs Debian's `postgresql` package as root, or
# says what to install otherwise. EVENKEEL_PG_BIN may name the directory
# holding initdb and pg_ctl.
#
# `stop` reads the directory from EVENKEEL_PG_DIR (exported by `start`).
set -euo pipefail

log() { echo "postgres.sh: $*" >&2; }

# The newest Debian-packaged server's bin directory (client-only ones skipped).
server_dir() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV); do
    if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" ]]; then
      echo "$dir"
      return
    fi
  done
}

# The directory holding initdb, pg_ctl and postgres, installing them if needed.
find_bin() {
  if [[ -n "${EVENKEEL_PG_BIN:-}" ]]; then
    echo "$EVENKEEL_PG_BIN"
    return
  fi
  local dir
  dir=$(server_dir)
  if [[ -n "$dir" ]]; then
    echo "$dir"
    return
  fi
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
    return
  fi
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    log "installing PostgreSQL from Debian's packages"
    # No default cluster: this script makes its own, and a package-made one
    # would be left running on port 5432.
    if [[ ! -e /etc/postgresql-common/createcluster.conf ]]; then
      mkdir -p /etc/postgresql-common
      echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
      postgresql >&2
    dir=$(server_dir)
    if [[ -n "$dir" ]]; then
      echo "$dir"
      return
    fi
  fi
  log "no PostgreSQL server found: install it (Debian: apt-get install postgresql) or set EVENKEEL_PG_BIN"
  exit 1
}

# Runs a command as the cluster's owner.
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u "$PG_OWNER" -- "$@"
  else
    "$@"
  fi
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start() {
  local bin dir port user="evenkeel"
  bin=$(find_bin)
  PG_OWNER=$(id -un)
  # As root the cluster's owner must reach the directory: stay in /tmp.
  local parent=${TMPDIR:-/tmp}
  [[ $(id -u) -eq 0 ]] && parent=/tmp
  dir=$(mktemp -d "$parent/evenkeel-pg.XXXXXX")
  if [[ $(id -u) -eq 0 ]]; then
    PG_OWNER=postgres
    if ! id -u "$PG_OWNER" >/dev/null 2>&1; then
      useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_OWNER"
    fi
    chown "$PG_OWNER" "$dir"
  fi
  chmod 700 "$dir"
  as_owner "$bin/initdb" --pgdata="$dir/data" --username="$user" --auth=trust \
    --encoding=UTF8 --no-locale --no-sync >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2
    log "initdb failed"
    exit 1
  }
  port=${EVENKEEL_PG_PORT:-54329}
  local tries=0
  while :; do
    if ! port_in_use "$port" &&
      as_owner "$bin/pg_ctl" --pgdata="$dir/data" --log="$dir/server.log" --wait --silent \
        -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories='$dir' -c max_connections=300" \
        start >&2; then
      break
    fi
    tries=$((tries + 1))
    if [[ $tries -ge 20 ]]; then
      tail -n 20 "$dir/server.log" >&2 || true
      log "could not start PostgreSQL on ports up to $port"
      exit 1
    fi
    port=$((port + 1))
  done
  as_owner "$bin/createdb" --host=127.0.0.1 --port="$port" --username="$user" "$user" >&2
  log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data in $dir)"
  echo "export EVENKEEL_PG_DIR='$dir'"
  echo "export EVENKEEL_PG_BIN='$bin'"
  echo "export EVENKEEL_TEST_DATABASE_URL='postgres://$user@127.0.0.1:$port/$user'"
}

stop() {
  local dir=${EVENKEEL_PG_DIR:-}
  if [[ -z "$dir" || ! -d "$dir" ]]; then
    log "no cluster to stop (EVENKEEL_PG_DIR is not set or gone)"
    return 0
  fi
  local bin
  bin=${EVENKEEL_PG_BIN:-$(find_bin)}
  PG_OWNER=$(stat -c %U "$dir")
  if [[ -f "$dir/data/postmaster.pid" ]]; then
    as_owner "$bin/pg_ctl" --pgdata="$dir/data" --mode=immediate --wait --silent stop >&2 ||
      log "pg_ctl stop failed (already stopped?)"
  fi
  rm -rf "$dir"
  log "stopped and removed $dir"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
*)
  echo "usage: $0 start|stop   (eval \"\$($0 start)\" to export the URL)" >&2
  exit 2
  ;;
esac
