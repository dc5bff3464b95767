#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests: initdb into a directory of its own, a
# free port on 127.0.0.1 only, trust authentication (loopback and its own socket only),
# fsync off (nothing in it outlives the run).
#
#   scripts/test-postgres.sh start [DIR]   prints the URL: postgres://postgres@127.0.0.1:PORT/postgres
#   scripts/test-postgres.sh stop [DIR]    stops it and removes DIR
#   scripts/test-postgres.sh bindir        prints the directory of the server binaries (exit 1: none)
#
# DIR defaults to .tmp/postgres in the repository. The binaries are found on PATH, then
# under /usr/lib/postgresql/*/bin (Debian's `postgresql` package); PG_BINDIR overrides.
# PostgreSQL refuses to run as root: as root, the server runs as the `postgres` user
# (which Debian's package creates) or else `nobody`.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cmd=${1:-}
dir=${2:-$repo/.tmp/postgres}

die() {
  echo "test-postgres: $*" >&2
  exit 1
}

bindir() {
  if [ -n "${PG_BINDIR:-}" ]; then
    [ -x "$PG_BINDIR/initdb" ] || die "PG_BINDIR=$PG_BINDIR has no initdb"
    echo "$PG_BINDIR"
    return
  fi
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
    return
  fi
  local best
  # The glob sorts 10 before 9; pick the highest major version.
  best=$(for d in /usr/lib/postgresql/*/bin; do if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; fi; done | sort -t/ -k4 -n | tail -n 1)
  [ -n "$best" ] || return 1
  echo "$best"
}

# The account the server runs as, and a runner for its commands.
os_user=""
as_server() {
  if [ -n "$os_user" ]; then runuser -u "$os_user" -- "$@"; else "$@"; fi
}
pick_user() {
  if [ "$(id -u)" = 0 ]; then
    if id postgres >/dev/null 2>&1; then os_user=postgres
    elif id nobody >/dev/null 2>&1; then os_user=nobody
    else die "running as root and neither a postgres nor a nobody user exists: PostgreSQL will not run as root"
    fi
    command -v runuser >/dev/null 2>&1 || die "running as root without runuser (util-linux): cannot start PostgreSQL as $os_user"
  fi
}

free_port() {
  node -e "const s=require('node:net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}

start() {
  local bin
  bin=$(bindir) || die "no PostgreSQL server binaries (initdb, pg_ctl) found; install them (Debian: apt-get install postgresql) or set PG_BINDIR"
  pick_user
  [ -e "$dir/url" ] && die "$dir already holds a cluster ($(cat "$dir/url")); run: $0 stop $dir"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  # The cluster itself may have to live elsewhere: the server's account must be able to
  # reach its directory, and a Unix socket path is limited to ~107 bytes.
  local cluster=$dir/cluster
  if [ -n "$os_user" ] && ! runuser -u "$os_user" -- test -x "$dir"; then cluster=""; fi
  if [ ${#dir} -gt 80 ]; then cluster=""; fi
  if [ -z "$cluster" ]; then
    cluster=$(mktemp -d "${TMPDIR:-/tmp}/agentd-pg.XXXXXX")
    echo "$cluster" >"$dir/cluster-dir"
  fi
  mkdir -p "$cluster"
  if [ -n "$os_user" ]; then chown "$os_user" "$cluster"; fi
  as_server "$bin/initdb" -D "$cluster/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1 ||
    die "initdb failed; see $dir/initdb.log"
  # Loopback and the cluster's own socket only, no password: nothing else can reach it.
  cat >"$dir/pg_hba.conf" <<'EOF'
local all all trust
host  all all 127.0.0.1/32 trust
EOF
  as_server tee "$cluster/data/pg_hba.conf" <"$dir/pg_hba.conf" >/dev/null
  local port tries=0
  while :; do
    port=$(free_port)
    cat >"$dir/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$cluster'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 300
EOF
    as_server tee -a "$cluster/data/postgresql.conf" <"$dir/postgresql.conf" >/dev/null
    if as_server "$bin/pg_ctl" -D "$cluster/data" -l "$cluster/server.log" -w -t 60 start >/dev/null 2>&1; then break; fi
    tries=$((tries + 1))
    # Another process may have taken the port between the probe and the start.
    [ $tries -lt 3 ] || die "the server did not start; see $cluster/server.log"
  done
  echo "$bin" >"$dir/bindir"
  local url="postgres://postgres@127.0.0.1:$port/postgres"
  echo "$url" >"$dir/url"
  echo "$url"
}

stop() {
  [ -d "$dir" ] || return 0
  pick_user
  local cluster=$dir/cluster
  [ -f "$dir/cluster-dir" ] && cluster=$(cat "$dir/cluster-dir")
  if [ -f "$dir/bindir" ] && [ -f "$cluster/data/postmaster.pid" ]; then
    # Immediate: nothing in a throwaway cluster needs a checkpoint.
    as_server "$(cat "$dir/bindir")/pg_ctl" -D "$cluster/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$cluster" "$dir"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  bindir) bindir ;;
  *)
    echo "usage: $0 start|stop [DIR] | bindir" >&2
    exit 64
    ;;
esac
