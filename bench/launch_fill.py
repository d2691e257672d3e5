#!/usr/bin/env python3
"""Fill a migrated Coterie SQLite database with a launch-day community.

    coterie --data-dir DIR migrate
    echo 'PASSWORD' | COTERIE_DATA_DIR=DIR coterie user create --username member1 --email member1@example.com --password-stdin
    python3 bench/launch_fill.py DIR/coterie.db --members 100000 --topics 20000 --posts 500000 --photos 50000 [--blog-posts 10000] [--targets FILE]

The database must hold exactly one member, made by `coterie user create`
(id 1, `member1`): every seeded member (`member2` ... `memberN`, emails
`memberK@example.com`) is given that member's argon2id password hash, so
all of them log in with the one password it was created with.

Rows are written directly, in batched multi-row INSERTs inside one
transaction, with every counter and derived column set as the app would
have set them: the forums as bench/forums_fill.py makes them (shared code),
blog posts with rendered body, excerpt, tags and month counts, photos in
galleries (rows only: pages read no image files, they only name them) with
tags, votes on photos and blog posts with each target's score, up and down
counts and hot rank, threaded comments with paths, reply counts and each
target's comment count, and the members counter. The counters are checked
against the rows at the end.

--targets writes the pages a load test visits, one per line as
`KIND PATH [PAGES]`, the most popular first within each kind (forums,
topics with their page count, blog posts, photos, galleries, members).
"""

import random
import sys
import time

from forums_fill import FORUM_CHECKS, START, arguments, fill_forums, fill_members, hot, html, insert_many, open_empty, sentence, verify

TAGS = "denim linen wool vintage tailoring streetwear knitwear summer winter boots accessories mending".split()
# Seeded blog posts, photos and comments fall within these seconds after START.
SPAN = 30 * 86_400


def blog_slug(title):
    """blog::store::slugify for plain ASCII words."""
    return "-".join(title.lower().split())[:80].rstrip("-")


def excerpt(body, limit=280):
    """markdown::excerpt for plain paragraphs: the text, folded, cut at a word."""
    text = " ".join(body.split())
    if len(text) <= limit:
        return text
    cut = text[:limit]
    if " " in cut:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(",.;:") + "…"


def month(at):
    t = time.gmtime(at)
    return t.tm_year * 100 + t.tm_mon


def voters(rng, members, owner, n):
    """`n` distinct members other than `owner`."""
    chosen = set()
    while len(chosen) < min(n, members - 1):
        v = rng.randrange(1, members + 1)
        if v != owner:
            chosen.add(v)
    return chosen


class Social:
    """Votes and comments on items, with the counters they move."""

    def __init__(self, rng, members):
        self.rng, self.members = rng, members
        self.votes, self.comments = [], []
        self.comment_id = 0

    def vote_on(self, kind, item, owner, at):
        """Some votes on one item (few for most, many for a few); returns
        (score, up, down)."""
        n = min(int(self.rng.paretovariate(1.3)) - 1, 60)
        up = down = 0
        for v in voters(self.rng, self.members, owner, n):
            value = 1 if self.rng.random() < 0.85 else -1
            up += value == 1
            down += value == -1
            self.votes.append((kind, item, v, value, at + self.rng.randrange(60, 86_400)))
        return up - down, up, down

    def comment_on(self, kind, item, at):
        """A few comments on one item, some of them replies; returns how many."""
        n = min(int(self.rng.paretovariate(1.5)) - 1, 30)
        thread = []  # [id, path, depth, root, reply_count index in self.comments]
        for _ in range(n):
            self.comment_id += 1
            cid = self.comment_id
            at += self.rng.randrange(60, 3_600)
            body = sentence(self.rng, 10)
            parent = self.rng.choice(thread) if thread and self.rng.random() < 0.4 else None
            if parent:
                pid, ppath, pdepth, proot, prow = parent
                path, depth, root = f"{ppath}/{cid:012}", pdepth + 1, proot
                self.comments[prow][13] += 1
            else:
                pid, path, depth, root = None, f"{cid:012}", 0, cid
            thread.append((cid, path, depth, root, len(self.comments)))
            author = self.rng.randrange(1, self.members + 1)
            self.comments.append([cid, kind, item, author, pid, root, depth, path, body, html(body), 0, at, None, 0])
        return n

    def write(self, db):
        insert_many(db, "votes", ["kind", "target_id", "user_id", "value", "created_at"], self.votes)
        insert_many(db, "comments", ["id", "kind", "target_id", "user_id", "parent_id", "root_id", "depth", "path", "body", "body_html",
                                     "status", "created_at", "edited_at", "reply_count"], self.comments)


def fill_blog(db, rng, social, count, members):
    """`count` published posts by random members, 1 in 100 featured."""
    rows, tags, months, slugs = [], [], {}, set()
    for pid in range(1, count + 1):
        author = rng.randrange(1, members + 1)
        at = START + rng.randrange(SPAN)
        title = sentence(rng, 6)[:-1]
        slug, n = blog_slug(title), 2
        while (author, slug) in slugs:
            slug, n = f"{blog_slug(title)}-{n}", n + 1
        slugs.add((author, slug))
        body = "\n\n".join(" ".join(sentence(rng, 14) for _ in range(3)) for _ in range(3))
        score, up, down = social.vote_on("blog_post", pid, author, at)
        comments = social.comment_on("blog_post", pid, at)
        rows.append((pid, author, title, slug, body, html(body), excerpt(body), "published", at, int(pid % 100 == 0), at, at,
                     score, up, down, comments, hot(score, at)))
        tags.extend((t, pid, at) for t in rng.sample(TAGS, rng.randrange(0, 3)))
        for who in (author, 0):
            months[(who, month(at))] = months.get((who, month(at)), 0) + 1
    insert_many(db, "blog_posts", ["id", "user_id", "title", "slug", "body", "body_html", "excerpt", "status", "published_at", "featured",
                                   "created_at", "updated_at", "score", "up_count", "down_count", "comment_count", "hot"], rows)
    insert_many(db, "blog_post_tags", ["tag", "post_id", "published_at"], tags)
    insert_many(db, "blog_months", ["user_id", "month", "post_count"], [(u, m, n) for (u, m), n in months.items()])


def fill_photos(db, rng, social, count, members):
    """`count` photos by random members, uploaded one by one in time order;
    half of them into their owner's gallery (one per member, made at their
    first such photo, its cover that first photo)."""
    rows, tags, galleries = [], [], {}  # owner -> [id, count, first photo, created, updated]
    for pid in range(1, count + 1):
        owner = rng.randrange(1, members + 1)
        at = START + pid * SPAN // (count + 1)
        gallery, position = None, 0
        if rng.random() < 0.5:
            g = galleries.setdefault(owner, [len(galleries) + 1, 0, pid, at, at])
            g[1] += 1
            g[4] = at
            gallery, position = g[0], g[1]
        caption = sentence(rng, 8) if rng.random() < 0.3 else ""
        width, height = (1600, 1200) if rng.random() < 0.5 else (1200, 1600)
        score, up, down = social.vote_on("photo", pid, owner, at)
        comments = social.comment_on("photo", pid, at)
        rows.append((pid, owner, gallery, sentence(rng, 3)[:-1], caption, html(caption) if caption else "", width, height,
                     f"{rng.getrandbits(80):020x}", position, at, at, score, up, down, comments, hot(score, at)))
        tags.extend((t, pid) for t in rng.sample(TAGS, rng.randrange(0, 3)))
    insert_many(db, "galleries", ["id", "user_id", "title", "description", "description_html", "cover_photo_id", "photo_count", "created_at", "updated_at"],
                [(g, owner, f"Looks by member{owner}", "", "", first, n, created, updated) for owner, (g, n, first, created, updated) in galleries.items()])
    insert_many(db, "photos", ["id", "user_id", "gallery_id", "title", "caption", "caption_html", "width", "height", "content_hash", "position",
                               "created_at", "updated_at", "score", "up_count", "down_count", "comment_count", "hot"], rows)
    insert_many(db, "photo_tags", ["tag", "photo_id"], tags)


def counted(table, kind, status=""):
    return {
        f"{table} scores": f"SELECT COUNT(*) FROM {table} t WHERE score <> (SELECT COALESCE(SUM(value), 0) FROM votes v WHERE v.kind = '{kind}' AND v.target_id = t.id) "
                           f"OR up_count <> (SELECT COUNT(*) FROM votes v WHERE v.kind = '{kind}' AND v.target_id = t.id AND value = 1) "
                           f"OR down_count <> (SELECT COUNT(*) FROM votes v WHERE v.kind = '{kind}' AND v.target_id = t.id AND value = -1)",
        f"{table} comment counts": f"SELECT COUNT(*) FROM {table} t WHERE comment_count <> (SELECT COUNT(*) FROM comments c WHERE c.kind = '{kind}' AND c.target_id = t.id AND c.status = 0)",
    }


LAUNCH_CHECKS = {
    **FORUM_CHECKS,
    **counted("photos", "photo"),
    **counted("blog_posts", "blog_post"),
    "gallery photo counts": "SELECT COUNT(*) FROM galleries g WHERE photo_count <> (SELECT COUNT(*) FROM photos p WHERE p.gallery_id = g.id) "
                            "OR cover_photo_id <> (SELECT MIN(id) FROM photos p WHERE p.gallery_id = g.id)",
    "comment reply counts": "SELECT COUNT(*) FROM comments c LEFT JOIN (SELECT parent_id, COUNT(*) AS n FROM comments GROUP BY parent_id) r "
                            "ON r.parent_id = c.id WHERE c.reply_count <> COALESCE(r.n, 0)",
    "comment paths": "SELECT COUNT(*) FROM comments c LEFT JOIN comments p ON p.id = c.parent_id "
                     "WHERE c.path <> COALESCE(p.path || '/', '') || printf('%012d', c.id) OR c.root_id <> COALESCE(p.root_id, c.id)",
    "blog month counts": "SELECT COUNT(*) FROM blog_months m LEFT JOIN (SELECT who, month, COUNT(*) AS n FROM "
                         "(SELECT user_id AS who, CAST(strftime('%Y%m', published_at, 'unixepoch') AS INTEGER) AS month FROM blog_posts "
                         "UNION ALL SELECT 0, CAST(strftime('%Y%m', published_at, 'unixepoch') AS INTEGER) FROM blog_posts) GROUP BY who, month) c "
                         "ON c.who = m.user_id AND c.month = m.month WHERE m.post_count <> COALESCE(c.n, 0)",
}


def write_targets(db, path):
    """The pages a load test visits, most popular first within each kind."""
    queries = [
        ("forum", "SELECT '/forums/' || slug FROM forums ORDER BY post_count DESC"),
        ("topic", "SELECT '/forums/t/' || id || '-' || slug || ' ' || ((last_number - 1) / 20 + 1) FROM forum_topics WHERE deleted = 0 ORDER BY last_post_at DESC"),
        ("blog", "SELECT '/blog/' || u.username || '/' || p.slug FROM blog_posts p JOIN users u ON u.id = p.user_id ORDER BY p.hot DESC"),
        ("photo", "SELECT '/photos/' || id FROM photos ORDER BY hot DESC"),
        ("gallery", "SELECT '/galleries/' || id FROM galleries ORDER BY updated_at DESC"),
        ("member", "SELECT '/u/' || u.username FROM users u LEFT JOIN forum_members f ON f.user_id = u.id ORDER BY COALESCE(f.post_count, 0) DESC, u.id"),
    ]
    with open(path, "w") as out:
        for kind, sql in queries:
            for (line,) in db.execute(sql):
                out.write(f"{kind} {line}\n")


def main():
    ap = arguments(__doc__, members=100_000, topics=20_000, posts=500_000, photos=50_000, blog_posts=10_000)
    ap.add_argument("--targets", help="write the pages a load test visits to this file")
    args = ap.parse_args()
    started = time.monotonic()
    db = open_empty(args.database, members_allowed=1)
    first = db.execute("SELECT id, username, password_hash FROM users").fetchall()
    if [(i, name) for i, name, _ in first] != [(1, "member1")]:
        sys.exit("make member1 first, with `coterie user create --username member1 ...`: its password hash is given to every member")
    rng = random.Random(7)
    db.execute("BEGIN")
    fill_members(db, 2, args.members, first[0][2])
    fill_forums(db, rng, args.topics, args.posts, args.members)
    social = Social(rng, args.members)
    fill_blog(db, rng, social, args.blog_posts, args.members)
    fill_photos(db, rng, social, args.photos, args.members)
    social.write(db)
    db.execute("COMMIT")
    db.execute("ANALYZE")
    filled = time.monotonic() - started
    verify(db, LAUNCH_CHECKS)
    if args.targets:
        write_targets(db, args.targets)
    db.close()
    print(f"filled {args.members} members, {args.topics} topics, {args.posts} posts, {args.blog_posts} blog posts, {args.photos} photos, "
          f"{len(social.votes)} votes, {len(social.comments)} comments in {filled:.1f} s (checked in {time.monotonic() - started - filled:.1f} s)")


if __name__ == "__main__":
    main()
