#!/usr/bin/env bash
# Static files and media: Coterie serving the peers' 20 KB HTML page (as a
# theme static file) and their ~300 KB JPEG (as a media file, from the hot
# files kept in memory), beside nginx serving the same two files, measured
# by ../shared/peers/web/run-peers.sh in candidate mode, one run per file.
# Prints the peers' table with the ratios after each.
#
#   bench/static.sh
#
# Env: BIN (a coterie binary; default: the release build), FILES (default "html jpeg"), PORT (18091), and run-peers.sh's own
# (DURATION, REPS, CONNS, PEERS_BUILD, ...).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bin=${BIN:-$(release_build --bin coterie)/coterie}
peers=${PEERS_DIR:-$ROOT/../shared/peers}/web
build=${PEERS_BUILD:-${TMPDIR:-/tmp}/coterie-peers}/web
port=${PORT:-18091}
data=$(mktemp -d /tmp/coterie-bench.XXXXXX)
trap 'rm -rf "$data"' EXIT

for file in ${FILES:-html jpeg}; do
  case $file in
    html) path=/static/bench/page20k.html ;;
    jpeg) path=/media/bench/photo.jpg ;;
    *) echo "static.sh: unknown file $file (html or jpeg)" >&2; exit 2 ;;
  esac
  # run-peers.sh makes the files before it starts anything; the command
  # copies them in place as the candidate starts.
  cmd="mkdir -p '$data/theme/static/bench' '$data/media/bench' \
    && cp '$build/static/page20k.html' '$data/theme/static/bench/' \
    && cp '$build/static/photo.jpg' '$data/media/bench/photo.jpg' \
    && RUST_LOG=warn COTERIE_THEME_DIR='$data/theme' COTERIE_DATA_DIR='$data' exec '$bin' serve --addr 127.0.0.1:$port"
  CANDIDATE_CMD="$cmd" CANDIDATE_URL="http://127.0.0.1:$port$path" CANDIDATE_NAME="coterie-$file" \
    "$peers/run-peers.sh" candidate nginx
done
