#!/usr/bin/env python3
"""Fill a migrated, empty Coterie SQLite database with a large forum.

    python3 bench/forums_fill.py DATA_DIR/coterie.db --posts 1000000 --topics 50000 --members 100000

Rows are written directly, in batched multi-row INSERTs inside one
transaction, with every counter and derived column set as the app would
have set them (forum and topic post counts, reply counts, last post, first
post, member post counts, each author's read mark and subscription, the
posts' hot rank, the members counter). A benchmark tool, not a way to seed
a real site: passwords are not usable.

The functions here (members, forums, the checks) are shared with
bench/launch_fill.py, which adds blogs, photos, comments and votes.
"""

import argparse
import math
import random
import sqlite3
import sys
import time

BATCH = 500
FORUMS = 10
START = 1_700_000_000

WORDS = (
    "linen wool tweed denim selvedge herringbone cashmere cotton silk loafers brogues "
    "boots collar lapel hem cuff pleat drape weave knit fit tailoring vintage care"
).split()


def insert_many(db, table, columns, rows):
    """INSERT rows in batches of multi-row VALUES lists."""
    marks = "(" + ", ".join("?" * len(columns)) + ")"
    head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
    for start in range(0, len(rows), BATCH):
        chunk = rows[start : start + BATCH]
        db.execute(head + ", ".join([marks] * len(chunk)), [v for row in chunk for v in row])


def sentence(rng, n):
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def html(body):
    """What markdown::render makes of plain paragraphs (no markup in them)."""
    return "".join(f"<p>{p}</p>\n" for p in body.split("\n\n"))


def hot(score, at):
    """content::hot: the score's order of magnitude plus time, in millionths."""
    order = math.log10(max(abs(score), 1))
    sign = (score > 0) - (score < 0)
    rank = (sign * order + (at - 1_700_000_000) / 45_000.0) * 1_000_000.0
    # Rust's f64::round rounds halves away from zero.
    return int(math.copysign(math.floor(abs(rank) + 0.5), rank))


def open_empty(path, members_allowed=0):
    """The database, for one big write: WAL, no fsync. Refuses one that holds
    content (or more than `members_allowed` members)."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = OFF")
    if db.execute("SELECT COUNT(*) FROM users").fetchone()[0] > members_allowed or db.execute("SELECT COUNT(*) FROM forums").fetchone()[0]:
        sys.exit("the database is not empty")
    return db


def fill_members(db, first, last, password_hash="!"):
    """Members `first`..`last` (ids and names: member{id}, email
    member{id}@example.com), confirmed, active, joined before START, with the
    members counter moved by as many."""
    members = [
        (i, f"member{i}", f"member{i}", f"member{i}@example.com", f"member{i}@example.com", password_hash, "member", 1, 1,
         f"Member {i}", "", "", "gravatar", START - 86_400 + i % 86_400, START)
        for i in range(first, last + 1)
    ]
    insert_many(db, "users", ["id", "username", "username_key", "email", "email_key", "password_hash", "role", "is_active",
                              "email_confirmed", "display_name", "bio", "bio_html", "avatar_mode", "created_at", "updated_at"], members)
    db.execute("UPDATE counters SET value = value + ? WHERE name = 'members'", (len(members),))


def fill_forums(db, rng, topics, posts, members):
    """Two categories of FORUMS forums; `posts` posts spread evenly over
    `topics` topics, topics over forums in turn, authors drawn from
    1..`members`. Post times rise with the post id (from START, 3 s apart),
    so a topic's last post is its newest. Returns the time of the last post."""
    if posts < topics:
        sys.exit("need at least one post per topic")
    db.execute("INSERT INTO forum_categories (id, name, slug, description, position, created_at) VALUES "
               "(1, 'Wardrobe', 'wardrobe', 'Clothes and how to keep them.', 1, ?), "
               "(2, 'Community', 'community', 'Meet-ups and the site.', 2, ?)", (START, START))
    forums = [(f, 1 if f <= FORUMS // 2 else 2, f"Forum {f}", f"forum-{f}", f"The forum number {f}.", f, START) for f in range(1, FORUMS + 1)]
    insert_many(db, "forums", ["id", "category_id", "name", "slug", "description", "position", "created_at"], forums)

    per_topic, extra = divmod(posts, topics)
    post_columns = ["id", "topic_id", "user_id", "number", "body", "body_html", "created_at", "hot"]
    topic_rows, post_rows, reads, subscriptions = [], [], [], []
    member_posts = [0] * (members + 1)
    forum_stats = {f: [0, 0, None, None, None, None] for f in range(1, FORUMS + 1)}  # topics, posts, last post, at, poster, topic
    post_id = 0
    bodies = [sentence(rng, 12) for _ in range(200)]
    for topic_id in range(1, topics + 1):
        forum_id = (topic_id - 1) % FORUMS + 1
        count = per_topic + (1 if topic_id <= extra else 0)
        title = sentence(rng, 5)[:-1]
        slug = "-".join(title.lower().split())[:80]
        first = None
        last_author = None
        # Each author's read mark (their last post's number) and subscription
        # (from their first post): what every post does for its author.
        authors = {}
        for number in range(1, count + 1):
            post_id += 1
            author = rng.randrange(1, members + 1)
            at = START + post_id * 3
            body = bodies[post_id % len(bodies)]
            post_rows.append((post_id, topic_id, author, number, body, html(body), at, hot(0, at)))
            member_posts[author] += 1
            first = first or (post_id, author, at)
            last_author = author
            authors.setdefault(author, [number, at])[0] = number
        reads.extend((a, topic_id, n) for a, (n, _) in authors.items())
        subscriptions.extend((a, topic_id, at) for a, (_, at) in authors.items())
        last_at = START + post_id * 3
        topic_rows.append((topic_id, forum_id, first[1], title, slug, count, count - 1, count, first[2], last_at, post_id, last_author, first[0]))
        s = forum_stats[forum_id]
        s[0] += 1
        s[1] += count
        s[2:] = [post_id, last_at, last_author, topic_id]
        if len(post_rows) >= 50_000:
            insert_many(db, "forum_posts", post_columns, post_rows)
            post_rows.clear()
    insert_many(db, "forum_posts", post_columns, post_rows)
    insert_many(db, "forum_topics", ["id", "forum_id", "user_id", "title", "slug", "post_count", "reply_count", "last_number",
                                     "created_at", "last_post_at", "last_post_id", "last_poster_id", "first_post_id"], topic_rows)
    insert_many(db, "forum_reads", ["user_id", "topic_id", "last_read_number"], reads)
    insert_many(db, "forum_subscriptions", ["user_id", "topic_id", "created_at"], subscriptions)
    for forum_id, (n_topics, n_posts, last_post, last_at, poster, last_topic) in forum_stats.items():
        db.execute("UPDATE forums SET topic_count = ?, post_count = ?, last_post_id = ?, last_post_at = ?, last_poster_id = ?, "
                   "last_topic_id = ? WHERE id = ?", (n_topics, n_posts, last_post, last_at, poster, last_topic, forum_id))
    insert_many(db, "forum_members", ["user_id", "post_count", "signature", "signature_html"],
                [(uid, n, "", "") for uid, n in enumerate(member_posts) if n])
    return START + post_id * 3


# Each query counts rows whose stored counter or latest post disagrees with
# the rows themselves (counting is fine here, in a tool, never on a page).
FORUM_CHECKS = {
    "topic post counts": "SELECT COUNT(*) FROM forum_topics t WHERE post_count <> (SELECT COUNT(*) FROM forum_posts p WHERE p.topic_id = t.id)",
    "topic last posts": "SELECT COUNT(*) FROM forum_topics t WHERE last_post_id <> (SELECT MAX(id) FROM forum_posts p WHERE p.topic_id = t.id)",
    "forum post counts": "SELECT COUNT(*) FROM forums f WHERE post_count <> (SELECT COUNT(*) FROM forum_posts p JOIN forum_topics t ON t.id = p.topic_id WHERE t.forum_id = f.id)",
    "forum topic counts": "SELECT COUNT(*) FROM forums f WHERE topic_count <> (SELECT COUNT(*) FROM forum_topics t WHERE t.forum_id = f.id)",
    "forum latest topics": "SELECT COUNT(*) FROM forums f WHERE last_topic_id <> (SELECT id FROM forum_topics t WHERE t.forum_id = f.id ORDER BY last_post_at DESC, id DESC LIMIT 1)",
    "member post counts": "SELECT COUNT(*) FROM forum_members m WHERE post_count <> (SELECT COUNT(*) FROM forum_posts p WHERE p.user_id = m.user_id)",
    "read marks": "SELECT COUNT(*) FROM forum_reads r WHERE last_read_number <> (SELECT MAX(number) FROM forum_posts p WHERE p.topic_id = r.topic_id AND p.user_id = r.user_id)",
    "members counter": "SELECT COUNT(*) FROM counters WHERE name = 'members' AND value <> (SELECT COUNT(*) FROM users)",
}


def verify(db, checks):
    wrong = {name: n for name, sql in checks.items() if (n := db.execute(sql).fetchone()[0])}
    if wrong:
        sys.exit(f"inconsistent counters: {wrong}")


def arguments(doc, **sizes):
    """The command line: the database, then a `--NAME N` per size (its default)."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("database")
    for name, default in sizes.items():
        ap.add_argument("--" + name.replace("_", "-"), type=int, default=default)
    return ap


def main():
    args = arguments(__doc__, posts=1_000_000, topics=50_000, members=100_000).parse_args()
    rng = random.Random(7)
    started = time.monotonic()
    db = open_empty(args.database)
    db.execute("BEGIN")
    fill_members(db, 1, args.members)
    fill_forums(db, rng, args.topics, args.posts, args.members)
    db.execute("COMMIT")
    db.execute("ANALYZE")
    filled = time.monotonic() - started
    verify(db, FORUM_CHECKS)
    db.close()
    print(f"filled {args.members} members, {args.topics} topics, {args.posts} posts in {filled:.1f} s; counters verified")


if __name__ == "__main__":
    main()
