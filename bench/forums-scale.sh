#!/usr/bin/env bash
# Forums at scale: does the time per page stay flat as the forums grow?
#
# For each size (SIZES, "posts:topics:members" words), a fresh data folder
# is migrated by the release binary and filled by bench/forums_fill.py
# (direct multi-row INSERTs on SQLite, counters set and then verified), then
# served by `coterie serve` pinned to CPU 0 while wrk, pinned to CPU 1,
# measures three anonymous pages on 127.0.0.1:
#   index  /forums
#   list   a forum's topic list deep in its keyset pages (?after= the topic
#          at DEPTH of the forum's topics, as the "older" links carry it)
#   topic  page 1 of a topic in the middle of the site
# Anonymous pages are measured uncached (there is no page cache yet). The
# topic page counts a view per request, so it includes one UPDATE.
#
# Env: SIZES (default "1000:50:100 1000000:50000:100000"), DURATION (wrk
# seconds, default 15), CONNECTIONS (16), DEPTH (0.8), KEEP=1 keeps the data
# folders under $WORK (default /tmp/coterie-forums-scale). CARGO_TARGET_DIR
# is honoured; COTERIE_BIN runs that binary instead of building one. Prints one markdown table for BENCHMARKS.md.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SIZES=${SIZES:-"1000:50:100 1000000:50000:100000"}
DURATION=${DURATION:-15}
CONNECTIONS=${CONNECTIONS:-16}
DEPTH=${DEPTH:-0.8}
WORK=${WORK:-/tmp/coterie-forums-scale}
PORT=${PORT:-18181}

for tool in wrk taskset sqlite3 python3; do
  command -v "$tool" >/dev/null || { echo "forums-scale.sh: $tool is missing (apt-get install -y wrk sqlite3)" >&2; exit 1; }
done

if [[ -n ${COTERIE_BIN:-} ]]; then
  bin=$COTERIE_BIN
else
  bin=$(release_build --bin coterie)/coterie
fi
trap stop_server EXIT

# Requests/s and the mean latency of one wrk run, as "rps latency".
measure() {
  local url=$1 out
  out=$(taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$url")
  if grep -q "Non-2xx" <<<"$out"; then
    echo "forums-scale.sh: $url answered errors:" >&2
    echo "$out" >&2
    exit 1
  fi
  local rps lat
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  lat=$(awk '/^    Latency/ {print $2; exit}' <<<"$out")
  echo "$rps $lat"
}

rows=()
for size in $SIZES; do
  IFS=: read -r posts topics members <<<"$size"
  dir=$WORK/$posts
  rm -rf "$dir"
  mkdir -p "$dir"
  "$bin" --data-dir "$dir" migrate >/dev/null
  start=$(date +%s.%N)
  python3 bench/forums_fill.py "$dir/coterie.db" --posts "$posts" --topics "$topics" --members "$members" >&2
  fill=$(echo "$(date +%s.%N) - $start" | bc)

  # The list page: forum 1's topics newest first, cursor at DEPTH of them.
  db=$dir/coterie.db
  in_forum=$(sqlite3 "$db" "SELECT topic_count FROM forums WHERE id = 1")
  skip=$(python3 -c "print(max(0, int($in_forum * $DEPTH) - 1))")
  cursor=$(sqlite3 "$db" "SELECT last_post_at || '.' || id FROM forum_topics WHERE forum_id = 1 AND deleted = 0 AND sticky = 0 ORDER BY last_post_at DESC, id DESC LIMIT 1 OFFSET $skip")
  middle=$(sqlite3 "$db" "SELECT id || '-' || slug FROM forum_topics WHERE id = $((topics / 2))")
  base=http://127.0.0.1:$PORT

  RUST_LOG=warn start_server "$PORT" "$dir/server.log" taskset -c 0 "$bin" --data-dir "$dir" serve --addr "127.0.0.1:$PORT"
  for path in /forums "/forums/forum-1?after=$cursor" "/forums/t/$middle"; do
    code=$(curl -s -o /dev/null -w '%{http_code}' "$base$path")
    [[ $code == 200 ]] || { echo "forums-scale.sh: $path answered $code" >&2; exit 1; }
  done
  # A short warm-up, so the first run does not pay for a cold page cache.
  taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d2s "$base/forums" >/dev/null
  read -r index_rps index_lat < <(measure "$base/forums")
  read -r list_rps list_lat < <(measure "$base/forums/forum-1?after=$cursor")
  read -r topic_rps topic_lat < <(measure "$base/forums/t/$middle")
  stop_server
  size_mb=$(du -m "$db" | cut -f1)
  rows+=("| $posts posts / $topics topics / $members members | $(printf '%.1f' "$fill") s | $size_mb MB | $index_rps ($index_lat) | $list_rps ($list_lat) | $topic_rps ($topic_lat) |")
  [[ ${KEEP:-0} == 1 ]] || rm -rf "$dir"
done

echo
echo "| site | fill | database | /forums req/s (mean latency) | deep topic list | topic page |"
echo "| --- | --- | --- | --- | --- | --- |"
printf '%s\n' "${rows[@]}"
