//! The accounts app's tables: members, sessions, emailed tokens, the audit
//! log, and site-wide settings and counters.

use crate::db::migrations::Migration;

pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "accounts",
    statements: &[
        "CREATE TABLE settings (
            name {str 100} NOT NULL PRIMARY KEY,
            value {text} NOT NULL
        ) {table}",
        "CREATE TABLE users (
            id {id},
            username {str 32} NOT NULL,
            username_key {str 32} NOT NULL,
            email {str 254} NOT NULL,
            email_key {str 254} NOT NULL,
            password_hash {str 255} NOT NULL,
            role {str 16} NOT NULL DEFAULT 'member',
            is_active {int} NOT NULL DEFAULT 1,
            email_confirmed {int} NOT NULL DEFAULT 0,
            display_name {str 100} NOT NULL DEFAULT '',
            bio {text} NOT NULL,
            bio_html {text} NOT NULL,
            location {str 100} NOT NULL DEFAULT '',
            website {str 255} NOT NULL DEFAULT '',
            avatar_mode {str 16} NOT NULL DEFAULT 'gravatar',
            avatar_key {str 64} NULL,
            created_at {int} NOT NULL,
            updated_at {int} NOT NULL,
            last_login_at {int} NULL
        ) {table}",
        "CREATE UNIQUE INDEX users_username_key ON users (username_key)",
        "CREATE UNIQUE INDEX users_email_key ON users (email_key)",
        "CREATE INDEX users_created ON users (created_at)",
        "CREATE TABLE sessions (
            id {str 64} NOT NULL PRIMARY KEY,
            user_id {int} NOT NULL,
            created_at {int} NOT NULL,
            last_seen_at {int} NOT NULL,
            expires_at {int} NOT NULL,
            ip {str 64} NOT NULL DEFAULT '',
            user_agent {str 255} NOT NULL DEFAULT '',
            FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
        ) {table}",
        "CREATE INDEX sessions_user ON sessions (user_id)",
        "CREATE INDEX sessions_expires ON sessions (expires_at)",
        "CREATE TABLE account_tokens (
            id {str 64} NOT NULL PRIMARY KEY,
            user_id {int} NOT NULL,
            purpose {str 16} NOT NULL,
            data {str 254} NOT NULL DEFAULT '',
            created_at {int} NOT NULL,
            expires_at {int} NOT NULL,
            used_at {int} NULL,
            FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
        ) {table}",
        "CREATE INDEX account_tokens_user ON account_tokens (user_id, purpose)",
        "CREATE TABLE audit_log (
            id {id},
            actor_id {int} NULL,
            action {str 64} NOT NULL,
            target_kind {str 32} NOT NULL,
            target_id {int} NOT NULL,
            detail {text} NOT NULL,
            created_at {int} NOT NULL
        ) {table}",
        "CREATE INDEX audit_log_created ON audit_log (created_at)",
        "CREATE TABLE counters (
            name {str 64} NOT NULL PRIMARY KEY,
            value {int} NOT NULL
        ) {table}",
        "INSERT INTO counters (name, value) VALUES ('members', 0)",
    ],
}];
