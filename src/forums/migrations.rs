//! The forums app's tables. Counters and "latest post" live in columns
//! updated in the same transaction as the post, so no page ever counts rows.

use crate::db::migrations::Migration;

pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "forums",
    statements: &[
        "CREATE TABLE forum_categories (
            id {id},
            name {str 100} NOT NULL,
            slug {str 100} NOT NULL,
            description {text} NOT NULL,
            position {int} NOT NULL DEFAULT 0,
            created_at {int} NOT NULL
        ) {table}",
        "CREATE UNIQUE INDEX forum_categories_slug ON forum_categories (slug)",
        "CREATE TABLE forums (
            id {id},
            category_id {int} NOT NULL,
            name {str 100} NOT NULL,
            slug {str 100} NOT NULL,
            description {text} NOT NULL,
            position {int} NOT NULL DEFAULT 0,
            visibility {str 16} NOT NULL DEFAULT 'public',
            topic_count {int} NOT NULL DEFAULT 0,
            post_count {int} NOT NULL DEFAULT 0,
            last_post_id {int} NULL,
            last_post_at {int} NULL,
            last_poster_id {int} NULL,
            last_topic_id {int} NULL,
            created_at {int} NOT NULL,
            FOREIGN KEY (category_id) REFERENCES forum_categories (id)
        ) {table}",
        "CREATE UNIQUE INDEX forums_slug ON forums (slug)",
        "CREATE INDEX forums_category ON forums (category_id, position)",
        // Topics and posts outlive their author's account: the author
        // becomes NULL ("former member") and the thread keeps its shape.
        "CREATE TABLE forum_topics (
            id {id},
            forum_id {int} NOT NULL,
            user_id {int} NULL,
            title {str 200} NOT NULL,
            slug {str 80} NOT NULL,
            sticky {int} NOT NULL DEFAULT 0,
            locked {int} NOT NULL DEFAULT 0,
            deleted {int} NOT NULL DEFAULT 0,
            post_count {int} NOT NULL DEFAULT 0,
            reply_count {int} NOT NULL DEFAULT 0,
            last_number {int} NOT NULL DEFAULT 0,
            view_count {int} NOT NULL DEFAULT 0,
            created_at {int} NOT NULL,
            last_post_at {int} NOT NULL,
            last_post_id {int} NULL,
            last_poster_id {int} NULL,
            first_post_id {int} NULL,
            FOREIGN KEY (forum_id) REFERENCES forums (id),
            FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE SET NULL
        ) {table}",
        // The topic list: sticky first, then latest activity, keyset-paged.
        "CREATE INDEX forum_topics_list ON forum_topics (forum_id, deleted, sticky, last_post_at, id)",
        // A forum's latest topic, and its topics active since a moment (unread marks).
        "CREATE INDEX forum_topics_active ON forum_topics (forum_id, deleted, last_post_at)",
        "CREATE INDEX forum_topics_author ON forum_topics (user_id)",
        // `number` is the post's place in its topic (1 is the opening post):
        // page N of a topic is an indexed range, never an OFFSET. `user_id`
        // and the counters are what a content kind needs (crate::content),
        // so comments and votes attach to posts with one line in app::KINDS.
        "CREATE TABLE forum_posts (
            id {id},
            topic_id {int} NOT NULL,
            user_id {int} NULL,
            number {int} NOT NULL,
            body {text} NOT NULL,
            body_html {text} NOT NULL,
            created_at {int} NOT NULL,
            edited_at {int} NULL,
            edited_by {int} NULL,
            deleted {int} NOT NULL DEFAULT 0,
            score {int} NOT NULL DEFAULT 0,
            up_count {int} NOT NULL DEFAULT 0,
            down_count {int} NOT NULL DEFAULT 0,
            comment_count {int} NOT NULL DEFAULT 0,
            hot {int} NOT NULL DEFAULT 0,
            FOREIGN KEY (topic_id) REFERENCES forum_topics (id),
            FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE SET NULL
        ) {table}",
        "CREATE UNIQUE INDEX forum_posts_number ON forum_posts (topic_id, number)",
        "CREATE INDEX forum_posts_author ON forum_posts (user_id)",
        // Per-member forum data: post count, signature, settings, and the
        // moment of the last "mark all read".
        "CREATE TABLE forum_members (
            user_id {int} NOT NULL PRIMARY KEY,
            post_count {int} NOT NULL DEFAULT 0,
            signature {text} NOT NULL,
            signature_html {text} NOT NULL,
            auto_subscribe {int} NOT NULL DEFAULT 1,
            read_all_at {int} NOT NULL DEFAULT 0,
            FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
        ) {table}",
        // How far each member has read each topic (by post number).
        "CREATE TABLE forum_reads (
            user_id {int} NOT NULL,
            topic_id {int} NOT NULL,
            last_read_number {int} NOT NULL,
            PRIMARY KEY (user_id, topic_id),
            FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
            FOREIGN KEY (topic_id) REFERENCES forum_topics (id)
        ) {table}",
        "CREATE TABLE forum_subscriptions (
            user_id {int} NOT NULL,
            topic_id {int} NOT NULL,
            created_at {int} NOT NULL,
            PRIMARY KEY (user_id, topic_id),
            FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
            FOREIGN KEY (topic_id) REFERENCES forum_topics (id)
        ) {table}",
        "CREATE INDEX forum_subscriptions_topic ON forum_subscriptions (topic_id)",
    ],
}, Migration {
    version: 2,
    name: "forum_topic_scores",
    statements: &[
        // The opening post's score, copied by every vote on it (app::SCORE_COPIES).
        "ALTER TABLE forum_topics ADD COLUMN score {int} NOT NULL DEFAULT 0",
        // A forum's "top" list, keyset-paged by (score, id).
        "CREATE INDEX forum_topics_top ON forum_topics (forum_id, deleted, score, id)",
    ],
}];
