#!/usr/bin/env bash
# Photo grids at scale: a site with 300,000 photos (rows only: grids read no
# files) by 1,000 members on the embedded SQLite, then the time to answer
# each grid as a visitor with the page cache off: the first page, a page
# 10,000 photos deep by its keyset link, and the popular, trending and tag
# orders. Each URL is asked 20 times; the median and the worst are printed.
#
#   bench/photos-scale.sh            # PHOTOS=300000 MEMBERS=1000 PORT=18092
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bin=$(release_build --bin coterie)/coterie
photos=${PHOTOS:-300000}
members=${MEMBERS:-1000}
port=${PORT:-18092}
data=$(mktemp -d /tmp/coterie-photos.XXXXXX)
trap 'kill $pid 2>/dev/null || true; rm -rf "$data"' EXIT

COTERIE_DATA_DIR=$data "$bin" migrate >/dev/null
python3 - "$data/coterie.db" "$photos" "$members" <<'PY'
import random, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
photos, members = int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(7)
now = 1_780_000_000
db.executemany(
    "INSERT INTO users (username, username_key, email, email_key, password_hash, role, is_active, email_confirmed, bio, bio_html, created_at, updated_at, avatar_mode) "
    "VALUES (?, ?, ?, ?, 'x', 'member', 1, 1, '', '', ?, ?, 'gravatar')",
    [(f"m{i}", f"m{i}", f"m{i}@example.com", f"m{i}@example.com", now, now) for i in range(members)])
rows = []
for i in range(photos):
    at = now - (photos - i) * 30
    score = int(rnd.paretovariate(1.5)) - 1
    hot = int(at / 45000 * 1e7) + int(score * 1e6)  # any increasing rank will do for the walk
    rows.append((rnd.randrange(1, members + 1), f"Look {i}", "", "", 800, 1000, f"{i:020x}", at, at, score, hot))
db.executemany(
    "INSERT INTO photos (user_id, title, caption, caption_html, width, height, content_hash, created_at, updated_at, score, hot) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
db.executemany("INSERT INTO photo_tags (tag, photo_id) VALUES ('denim', ?)", [(i,) for i in range(1, photos + 1, 10)])
db.commit()
PY
deep=$((photos - 10000))
COTERIE_DATA_DIR=$data COTERIE_PAGE_CACHE_ENABLED=false RUST_LOG=warn "$bin" serve --addr 127.0.0.1:$port &
pid=$!
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
printf '%-44s %10s %10s\n' "grid ($photos photos)" "median ms" "worst ms"
for path in "/photos" "/photos?after=$deep" "/photos?sort=top" "/photos?sort=hot" "/tags/denim" "/u/m1"; do
  times=$(for _ in $(seq 20); do curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$port$path"; done | sort -n)
  median=$(echo "$times" | sed -n 10p)
  worst=$(echo "$times" | tail -1)
  printf '%-44s %10.1f %10.1f\n' "$path" "$(echo "$median * 1000" | bc -l)" "$(echo "$worst * 1000" | bc -l)"
done
