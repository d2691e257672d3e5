#!/usr/bin/env bash
# CPU time per request: how much of one core the server spends on each
# request of a URL, read from its own /proc counters around a wrk run. On a
# busy machine req/s drifts with whatever else runs; CPU per request holds
# much better, so this compares builds or settings when the machine cannot
# be had quiet (the peers' driver, which waits for idle CPUs, is for
# figures against the peers).
#
#   bench/cpu-per-request.sh [PATH]      # default: the busiest demo topic
#
# Env: BIN (default: the release build), MODES ("cached uncached"; also
# "member": the same page for a logged-in member asking for brotli, as a
# browser does), CONNS (64), DURATION (5), PORT (18093); LIMIT=1 also
# measures the peers' plain hyper server serving the same bytes (needs
# ../shared/peers built by run-peers.sh, or builds it).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bin=${BIN:-$(release_build --bin coterie)/coterie}
port=${PORT:-18093}
data=$(mktemp -d /tmp/coterie-cpu.XXXXXX)
trap 'kill $server 2>/dev/null || true; rm -rf "$data"' EXIT
server=

COTERIE_DATA_DIR=$data "$bin" demo >/dev/null 2>&1
path=${1:-/forums/t/$(python3 - "$data/coterie.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print(db.execute("SELECT id FROM forum_topics WHERE deleted = 0 ORDER BY last_number DESC LIMIT 1").fetchone()[0])
PY
)}
url="http://127.0.0.1:$port$path"

# measure NAME [WRK ARGS...]: wrk against $url while $server runs; prints one line.
measure() {
  local name=$1 ticks=$(getconf CLK_TCK) before after requests
  shift
  before=$(awk '{print $14 + $15}' "/proc/$server/stat")
  taskset -c 1 wrk -t1 -c"${CONNS:-64}" -d"${DURATION:-5}"s --latency "$@" "$url" >"$data/wrk.txt"
  after=$(awk '{print $14 + $15}' "/proc/$server/stat")
  requests=$(awk '/requests in/ {print $1}' "$data/wrk.txt")
  printf '%-22s %8s req/s  p99 %-9s %7.1f us CPU/request  peak RSS %s\n' "$name" \
    "$(awk '/Requests\/sec/ {print $2}' "$data/wrk.txt")" "$(awk '$1 == "99%" {print $2}' "$data/wrk.txt")" \
    "$(python3 -c "print(($after - $before) / $ticks * 1e6 / $requests)")" \
    "$(awk '/VmHWM/ {print $2 " " $3}' "/proc/$server/status")"
}

wait_up() {
  for _ in $(seq 100); do curl -sf -o "$data/page.html" "$url" && return; sleep 0.1; done
  echo "cpu-per-request: $url did not answer" >&2; exit 1
}

# log_in: a member made for the run logs in through the form; prints the session cookie.
log_in() {
  local base="http://127.0.0.1:$port" jar=$data/cookies token
  token=$(curl -sf -c "$jar" -b "$jar" "$base/accounts/login" | sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' | head -1)
  curl -sf -o /dev/null -c "$jar" -b "$jar" -H "Origin: $base" --data-urlencode login=benchmember \
    --data-urlencode "password=$password" --data-urlencode "csrf_token=$token" "$base/accounts/login"
  awk '$6 == "coterie_session" {print $7}' "$jar"
}
password='Wool-and-linen-2026!'
echo "$password" | COTERIE_DATA_DIR=$data "$bin" user create --username benchmember --email benchmember@example.com --password-stdin >/dev/null

echo "cpu-per-request: $url, wrk -c${CONNS:-64} -d${DURATION:-5}s on CPU 1, server on CPU 0"
for mode in ${MODES:-cached uncached}; do
  enabled=true
  [[ $mode == uncached ]] && enabled=false
  RUST_LOG=warn COTERIE_PAGE_CACHE_ENABLED=$enabled COTERIE_DATA_DIR=$data \
    taskset -c 0 "$bin" serve --addr "127.0.0.1:$port" >"$data/server.log" 2>&1 &
  server=$!
  wait_up
  curl -sf -o /dev/null "$url"
  if [[ $mode == member ]]; then
    measure "coterie-member-br" -H "Cookie: coterie_session=$(log_in)" -H "Accept-Encoding: br"
  else
    measure "coterie-$mode"
  fi
  kill "$server"; wait "$server" 2>/dev/null || true
done

if [[ -n ${LIMIT:-} ]]; then
  limit=${PEERS_BUILD:-${TMPDIR:-/tmp}/coterie-peers}/web/limit-target/release/limit-server
  if [[ ! -x $limit ]]; then
    (cd "$ROOT/../shared/peers/web/limit-server" && CARGO_TARGET_DIR=$(dirname "$(dirname "$limit")") cargo build --release --locked --quiet)
  fi
  taskset -c 0 "$limit" "127.0.0.1:$port" "$data/page.html" >/dev/null 2>&1 &
  server=$!
  url="http://127.0.0.1:$port/"
  wait_up
  measure "limit-hyper (same bytes)"
fi
