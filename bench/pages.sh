#!/usr/bin/env bash
# Page benchmark: a forum topic page of 20 posts (the peers' data shape) as
# a visitor sees it, from the page cache, with it off, and from the page
# cache through nginx in front (deploy/nginx.conf, both on the server's
# core: bench/nginx-front.sh), measured by
# ../shared/peers/web/run-peers.sh in candidate mode beside the plain hyper
# server (serving the very same bytes: LIMIT_BODY) and Django with and
# without memcached, in one run. Prints the peers' table with the ratios.
#
#   bench/pages.sh            cached, uncached and nginx, against limit and django
#   PEERS="limit" bench/pages.sh
#
# Env: BIN (a coterie binary; default: the release build), PEERS (default "limit django"; empty: the candidate alone), MODES (default "cached uncached nginx"),
# PORT (18090), and run-peers.sh's own (DURATION, REPS, CONNS, ...).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bin=${BIN:-$(release_build --bin coterie)/coterie}
peers=${PEERS_DIR:-$ROOT/../shared/peers}/web
# The tests' memcached holds 11211; the Django peer gets its own.
export MEMCACHED_PORT=${MEMCACHED_PORT:-11311}
port=${PORT:-18090}
data=$(mktemp -d /tmp/coterie-bench.XXXXXX)
trap 'rm -rf "$data"' EXIT

# A demo site; the topic measured is the busiest one's first page (20 posts).
COTERIE_DATA_DIR=$data "$bin" demo >/dev/null 2>&1
topic=$(python3 - "$data/coterie.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print(db.execute("SELECT id FROM forum_topics WHERE deleted = 0 ORDER BY last_number DESC LIMIT 1").fetchone()[0])
PY
)
url="http://127.0.0.1:$port/forums/t/$topic"
echo "pages.sh: measuring $url" >&2

for mode in ${MODES:-cached uncached nginx}; do
  enabled=true
  [[ $mode == uncached ]] && enabled=false
  env="RUST_LOG=warn COTERIE_PAGE_CACHE_ENABLED=$enabled COTERIE_DATA_DIR=$data"
  cmd="$env exec '$bin' serve --addr 127.0.0.1:$port"
  [[ $mode == nginx ]] && cmd="$env exec '$ROOT/bench/nginx-front.sh' $port $((port + 1)) '$data' '$bin'"
  # The limit server returns exactly the bytes Coterie sends for this page.
  body=$data/topic-$mode.html
  (eval "$cmd" & pid=$!; for _ in $(seq 50); do curl -sf -o "$body" "$url" && break; sleep 0.2; done; kill $pid; wait $pid 2>/dev/null) || true
  CANDIDATE_CMD="$cmd" CANDIDATE_URL="$url" CANDIDATE_NAME="coterie-topic-$mode" LIMIT_BODY="$body" \
    "$peers/run-peers.sh" candidate ${PEERS-limit django}
done
