#!/usr/bin/env bash
# A scratch PostgreSQL for tests: Debian's own server binaries, a data directory and a Unix socket in a
# directory the caller owns, no TCP listener, trust authentication for one role. No mock.
#
#   tests/support/pg_scratch.sh start DIR [OWNER_PID]   prints the connection URL on stdout
#   tests/support/pg_scratch.sh stop DIR                fast shutdown (idempotent)
#   tests/support/pg_scratch.sh kill DIR                immediate shutdown, as a crash would
#   tests/support/pg_scratch.sh restart DIR             stop then start on the same data
#   tests/support/pg_scratch.sh url DIR                 prints the URL again
#
# Exit status: 0 done; 77 PostgreSQL's server binaries are not installed (the caller skips, or fails under
# CI=true); 1 anything else. initdb refuses to run as root, so as root the server runs as `nobody`.
# The server never outlives its owner: a watchdog stops it when OWNER_PID (default: the caller's parent
# shell) exits, so a test that dies leaves no server behind. The URL names database and role "ccgate":
#   postgresql:///ccgate?host=DIR/sock&user=ccgate
set -u

die() { echo "pg_scratch: $*" >&2; exit 1; }

pg_bindir() {
  local d
  if command -v pg_config >/dev/null 2>&1; then
    d=$(pg_config --bindir 2>/dev/null)
    [ -x "$d/initdb" ] && [ -x "$d/postgres" ] && { echo "$d"; return 0; }
  fi
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && [ -x "$d/postgres" ] && { echo "$d"; return 0; }
  done
  return 1
}

# as_owner CMD...: runs CMD as the data directory's owner (nobody when we are root).
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"
  else
    "$@"
  fi
}

url_of() { echo "postgresql:///ccgate?host=$1/sock&user=ccgate"; }

server_start() {
  local dir=$1 bin=$2
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-k $dir/sock -c listen_addresses= -c max_connections=200 -c fsync=on" start >/dev/null ||
    { cat "$dir/server.log" >&2 2>/dev/null; die "pg_ctl start failed"; }
}

cmd_start() {
  local dir=$1 owner=${2:-$PPID} bin
  bin=$(pg_bindir) || { echo "pg_scratch: PostgreSQL server binaries not found" >&2; exit 77; }
  mkdir -p "$dir" || die "cannot create $dir"
  dir=$(cd "$dir" && pwd)
  mkdir -p "$dir/sock"
  [ "$(id -u)" -eq 0 ] && chown -R nobody:nogroup "$dir"
  chmod 0755 "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_owner "$bin/initdb" -D "$dir/data" -U ccgate --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  fi
  server_start "$dir" "$bin"
  as_owner "$bin/createdb" -h "$dir/sock" -U ccgate ccgate 2>/dev/null || true
  echo "$bin" >"$dir/bindir"
  # The watchdog: stops the server once the owner is gone (or the directory was removed).
  (
    exec </dev/null >/dev/null 2>&1
    while kill -0 "$owner" 2>/dev/null && [ -d "$dir/data" ]; do sleep 1; done
    as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop
  ) &
  echo $! >"$dir/watchdog.pid"
  url_of "$dir"
}

cmd_stop() {
  local dir=$1 mode=${2:-fast} bin
  [ -f "$dir/bindir" ] || return 0
  bin=$(cat "$dir/bindir")
  as_owner "$bin/pg_ctl" -D "$dir/data" -m "$mode" -w stop >/dev/null 2>&1 || true
}

cmd_restart() {
  local dir=$1 bin
  [ -f "$dir/bindir" ] || die "no server in $dir"
  bin=$(cat "$dir/bindir")
  cmd_stop "$dir" fast
  server_start "$dir" "$bin"
}

[ $# -ge 2 ] || die "usage: pg_scratch.sh start|stop|kill|restart|url DIR [OWNER_PID]"
case $1 in
  start) cmd_start "$2" "${3:-}" ;;
  stop) cmd_stop "$2" fast ;;
  kill) cmd_stop "$2" immediate ;;
  restart) cmd_restart "$2" ;;
  url) url_of "$(cd "$2" && pwd)" ;;
  *) die "unknown command '$1'" ;;
esac
