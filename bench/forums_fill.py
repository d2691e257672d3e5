#!/usr/bin/env python3
"""Fill a migrated, empty Coterie SQLite database with a large forum.

    python3 bench/forums_fill.py DATA_DIR/coterie.db --posts 1000000 --topics 50000 --members 100000

Rows are written directly, in batched multi-row INSERTs inside one
transaction, with every counter and "latest post" column set as the app
would have set them (forum and topic post counts, reply counts, last post,
first post, member post counts, the members counter). A benchmark tool, not
a way to seed a real site: passwords are not usable.
"""

import argparse
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("database")
    ap.add_argument("--posts", type=int, default=1_000_000)
    ap.add_argument("--topics", type=int, default=50_000)
    ap.add_argument("--members", type=int, default=100_000)
    args = ap.parse_args()
    if args.posts < args.topics:
        sys.exit("need at least one post per topic")
    rng = random.Random(7)
    started = time.monotonic()
    db = sqlite3.connect(args.database, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = OFF")
    if db.execute("SELECT COUNT(*) FROM users").fetchone()[0] or db.execute("SELECT COUNT(*) FROM forums").fetchone()[0]:
        sys.exit("the database is not empty")
    db.execute("BEGIN")

    members = [
        (i, f"member{i}", f"member{i}", f"member{i}@example.com", f"member{i}@example.com", "!", "member", 1, 1,
         f"Member {i}", "", "", "gravatar", START - 86_400 + i % 86_400, START)
        for i in range(1, args.members + 1)
    ]
    insert_many(db, "users", ["id", "username", "username_key", "email", "email_key", "password_hash", "role", "is_active",
                              "email_confirmed", "display_name", "bio", "bio_html", "avatar_mode", "created_at", "updated_at"], members)
    db.execute("DELETE FROM counters WHERE name = 'members'")
    db.execute("INSERT INTO counters (name, value) VALUES ('members', ?)", (args.members,))
    del members

    db.execute("INSERT INTO forum_categories (id, name, slug, description, position, created_at) VALUES "
               "(1, 'Wardrobe', 'wardrobe', 'Clothes and how to keep them.', 1, ?), "
               "(2, 'Community', 'community', 'Meet-ups and the site.', 2, ?)", (START, START))
    forums = [(f, 1 if f <= FORUMS // 2 else 2, f"Forum {f}", f"forum-{f}", f"The forum number {f}.", f, START) for f in range(1, FORUMS + 1)]
    insert_many(db, "forums", ["id", "category_id", "name", "slug", "description", "position", "created_at"], forums)

    # Posts are spread evenly over topics; topics over forums in turn. Post
    # times rise with the post id, so a topic's last post is its newest.
    per_topic, extra = divmod(args.posts, args.topics)
    topic_rows, post_rows = [], []
    member_posts = [0] * (args.members + 1)
    forum_stats = {f: [0, 0, None, None, None, None] for f in range(1, FORUMS + 1)}  # topics, posts, last post, at, poster, topic
    post_id = 0
    bodies = [sentence(rng, 12) for _ in range(200)]
    for topic_id in range(1, args.topics + 1):
        forum_id = (topic_id - 1) % FORUMS + 1
        count = per_topic + (1 if topic_id <= extra else 0)
        title = sentence(rng, 5)[:-1]
        slug = "-".join(title.lower().split())[:80]
        first = None
        last_author = None
        for number in range(1, count + 1):
            post_id += 1
            author = rng.randrange(1, args.members + 1)
            at = START + post_id * 3
            body = bodies[post_id % len(bodies)]
            post_rows.append((post_id, topic_id, author, number, body, f"<p>{body}</p>", at))
            member_posts[author] += 1
            first = first or (post_id, author, at)
            last_author = author
        last_at = START + post_id * 3
        topic_rows.append((topic_id, forum_id, first[1], title, slug, count, count - 1, count, first[2], last_at, post_id, last_author, first[0]))
        s = forum_stats[forum_id]
        s[0] += 1
        s[1] += count
        s[2:] = [post_id, last_at, last_author, topic_id]
        if len(post_rows) >= 50_000:
            insert_many(db, "forum_posts", ["id", "topic_id", "user_id", "number", "body", "body_html", "created_at"], post_rows)
            post_rows.clear()
    insert_many(db, "forum_posts", ["id", "topic_id", "user_id", "number", "body", "body_html", "created_at"], post_rows)
    insert_many(db, "forum_topics", ["id", "forum_id", "user_id", "title", "slug", "post_count", "reply_count", "last_number",
                                     "created_at", "last_post_at", "last_post_id", "last_poster_id", "first_post_id"], topic_rows)
    for forum_id, (topics, posts, last_post, last_at, poster, last_topic) in forum_stats.items():
        db.execute("UPDATE forums SET topic_count = ?, post_count = ?, last_post_id = ?, last_post_at = ?, last_poster_id = ?, "
                   "last_topic_id = ? WHERE id = ?", (topics, posts, last_post, last_at, poster, last_topic, forum_id))
    insert_many(db, "forum_members", ["user_id", "post_count", "signature", "signature_html"],
                [(uid, n, "", "") for uid, n in enumerate(member_posts) if n])
    db.execute("COMMIT")
    db.execute("ANALYZE")
    filled = time.monotonic() - started
    verify(db)
    db.close()
    print(f"filled {args.members} members, {args.topics} topics, {args.posts} posts in {filled:.1f} s; counters verified")


# Each query counts rows whose stored counter or latest post disagrees with
# the rows themselves (counting is fine here, in a tool, never on a page).
CHECKS = {
    "topic post counts": "SELECT COUNT(*) FROM forum_topics t WHERE post_count <> (SELECT COUNT(*) FROM forum_posts p WHERE p.topic_id = t.id)",
    "topic last posts": "SELECT COUNT(*) FROM forum_topics t WHERE last_post_id <> (SELECT MAX(id) FROM forum_posts p WHERE p.topic_id = t.id)",
    "forum post counts": "SELECT COUNT(*) FROM forums f WHERE post_count <> (SELECT COUNT(*) FROM forum_posts p JOIN forum_topics t ON t.id = p.topic_id WHERE t.forum_id = f.id)",
    "forum topic counts": "SELECT COUNT(*) FROM forums f WHERE topic_count <> (SELECT COUNT(*) FROM forum_topics t WHERE t.forum_id = f.id)",
    "forum latest topics": "SELECT COUNT(*) FROM forums f WHERE last_topic_id <> (SELECT id FROM forum_topics t WHERE t.forum_id = f.id ORDER BY last_post_at DESC, id DESC LIMIT 1)",
    "member post counts": "SELECT COUNT(*) FROM forum_members m WHERE post_count <> (SELECT COUNT(*) FROM forum_posts p WHERE p.user_id = m.user_id)",
}


def verify(db):
    wrong = {name: n for name, sql in CHECKS.items() if (n := db.execute(sql).fetchone()[0])}
    if wrong:
        sys.exit(f"inconsistent counters: {wrong}")


if __name__ == "__main__":
    main()
