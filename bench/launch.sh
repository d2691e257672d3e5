#!/usr/bin/env bash
# Launch day: a demo site seeded at scale, then a crowd of virtual visitors
# (examples/launch_load.rs): 80 % browse anonymously, 15 % log in and
# browse, 5 % log in and write (forum replies, blog comments, votes, photo
# uploads), each a session of at least 10 pages with no think time.
#
#   bench/launch.sh                                  # the issue's sizes, 200,000 visitors
#   MEMBERS=2000 TOPICS=400 POSTS=10000 PHOTOS=1000 VISITORS=500 DURATION=60 bench/launch.sh
#
# Steps: release build (coterie and the load runner); a migrated database
# with member1 made by `coterie user create`, filled by bench/launch_fill.py
# (every member gets member1's password hash) and cached under
# $WORK/launch-SIZES/ so reruns skip the fill; a copy of it served by
# `coterie serve` pinned to CPU 0 (RUST_LOG=warn) on 127.0.0.1; the load
# runner pinned to CPU 1; its report (req/s, latency percentiles per page,
# errors, page and object cache hits, the server's peak memory); the server
# is stopped at the end.
#
# Env: MEMBERS (100000), TOPICS (20000), POSTS (500000), PHOTOS (50000),
# BLOG_POSTS (MEMBERS / 10), VISITORS (200000), CONCURRENCY (32), DURATION
# (seconds, 3600: the run stops at VISITORS or DURATION, whichever comes
# first), CACHE_URL (memory://; also memcache://host:port, redis://host:port),
# PORT (18200), WORK (/tmp), KEEP=1 keeps the run's data folder. The load
# runner's other flags (--pages, --mix, --seed) can be passed as arguments.
#
# Rate limits. Every limit in the code is per window (rate_limits.window_seconds,
# 600 s) and counted per client address or per member:
#   login-ip, signup, reset-ip   per address: rate_limits.auth_per_ip (20)
#   login-account, reset-account, email-change, password-change
#                                per account: rate_limits.login_per_account (10)
#   comment                      per member: comments.per_window (30; a third in a member's first day)
#   vote                         per member: 120 (30 in the first day), fixed
#   forum-post / forum-edit      per member: 20 / 60, fixed
#   photo-upload                 per member: 30, fixed
#   blog-post, gallery-new, avatar  per member: 20, 20, 30, fixed
# This script raises:
#   COTERIE_RATE_LIMITS_AUTH_PER_IP: every visitor comes from 127.0.0.1, so
#     the per-address log-in limit would stop the crowd after 20 log-ins;
#   COTERIE_RATE_LIMITS_LOGIN_PER_ACCOUNT: on a small site the same member
#     logs in many times in ten minutes (it counts every attempt);
#   COTERIE_COMMENTS_PER_WINDOW: for small sites likewise.
# The fixed per-member limits stay: a writer session makes at most one
# reply, one comment, three votes and one upload, with a member drawn at
# random from all of them, so no member comes near them (seeded members are
# older than a day). Nothing else is changed from the defaults.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MEMBERS=${MEMBERS:-100000}
TOPICS=${TOPICS:-20000}
POSTS=${POSTS:-500000}
PHOTOS=${PHOTOS:-50000}
BLOG_POSTS=${BLOG_POSTS:-$((MEMBERS / 10))}
VISITORS=${VISITORS:-200000}
CONCURRENCY=${CONCURRENCY:-32}
DURATION=${DURATION:-3600}
CACHE_URL=${CACHE_URL:-memory://}
PORT=${PORT:-18200}
WORK=${WORK:-/tmp}
PASSWORD='Launch-day crowd 2026!'

for tool in taskset curl python3; do
  command -v "$tool" >/dev/null || { echo "launch.sh: $tool is missing" >&2; exit 1; }
done
# One build for both: built apart, the server and the example (whose
# dev-dependencies add features to shared crates) rebuild each other. The
# binaries are copied at once, as the target folder may be shared.
release=$(release_build --bin coterie --example launch_load)
bins=$(mktemp -d "$WORK/coterie-launch-bin.XXXXXX")
cp "$release/coterie" "$release/examples/launch_load" "$bins/"
bin=$bins/coterie
load=$bins/launch_load
data=
finish() {
  stop_server
  rm -rf "$bins"
  if [[ -n $data ]]; then
    [[ ${KEEP:-0} == 1 ]] && echo "launch.sh: kept $data" >&2 || rm -rf "$data"
  fi
}
trap finish EXIT

# The filled database, made once per set of sizes.
seeded=$WORK/coterie-launch-m$MEMBERS-t$TOPICS-p$POSTS-ph$PHOTOS-b$BLOG_POSTS
if [[ ! -f $seeded/targets.txt ]]; then
  rm -rf "$seeded.tmp"
  mkdir -p "$seeded.tmp"
  COTERIE_DATA_DIR=$seeded.tmp "$bin" migrate >/dev/null
  printf '%s\n' "$PASSWORD" | COTERIE_DATA_DIR=$seeded.tmp "$bin" user create --username member1 --email member1@example.com --password-stdin >/dev/null
  start=$(date +%s.%N)
  python3 bench/launch_fill.py "$seeded.tmp/coterie.db" --members "$MEMBERS" --topics "$TOPICS" --posts "$POSTS" \
    --photos "$PHOTOS" --blog-posts "$BLOG_POSTS" --targets "$seeded.tmp/targets.txt" >&2
  echo "launch.sh: fill took $(printf "%.1f" "$(echo "$(date +%s.%N) - $start" | bc)") s; database $(du -m "$seeded.tmp/coterie.db" | cut -f1) MB" >&2
  rm -rf "$seeded"
  mv "$seeded.tmp" "$seeded"
else
  echo "launch.sh: using the database filled before in $seeded" >&2
fi

data=$(mktemp -d "$WORK/coterie-launch-run.XXXXXX")
cp "$seeded"/coterie.db* "$data/"

export RUST_LOG=warn COTERIE_DATA_DIR=$data COTERIE_CACHE_URL=$CACHE_URL COTERIE_METRICS_ALLOW=127.0.0.1
export COTERIE_RATE_LIMITS_AUTH_PER_IP=1000000000 COTERIE_RATE_LIMITS_LOGIN_PER_ACCOUNT=1000000000 COTERIE_COMMENTS_PER_WINDOW=1000000000
start_server "$PORT" "$data/server.log" taskset -c 0 "$bin" serve --addr "127.0.0.1:$PORT"

echo "launch.sh: $VISITORS visitors ($CONCURRENCY at once, at most $DURATION s) on $MEMBERS members, $TOPICS topics, $POSTS posts, $PHOTOS photos, $BLOG_POSTS blog posts, cache $CACHE_URL" >&2
status=0
taskset -c 1 "$load" --base "http://127.0.0.1:$PORT" --targets "$seeded/targets.txt" --members "$MEMBERS" --password "$PASSWORD" \
  --visitors "$VISITORS" --concurrency "$CONCURRENCY" --duration "$DURATION" --server-pid "$server" "$@" || status=$?
if grep -qiE "error|panic" "$data/server.log"; then
  echo "launch.sh: the server logged errors:" >&2
  grep -iE "error|panic" "$data/server.log" | head -20 >&2
fi
exit $status
