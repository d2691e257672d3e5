//! Members as stored: reading, creating and updating the `users` table.

use serde::Serialize;
use sqlx::Row as _;

use crate::app::AppState;
use crate::config::Config;
use crate::db::{now, Db, Row};
use crate::web::error::AppError;

#[derive(Clone, Debug)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub role: String,
    pub is_active: bool,
    pub email_confirmed: bool,
    pub display_name: String,
    pub bio: String,
    pub bio_html: String,
    pub location: String,
    pub website: String,
    pub avatar_mode: String,
    pub avatar_key: Option<String>,
    pub created_at: i64,
}

/// Square avatar URLs in the three configured sizes.
#[derive(Serialize, Clone, Debug)]
pub struct Avatar {
    pub small: String,
    pub medium: String,
    pub large: String,
    pub uploaded: bool,
}

/// What templates see of the logged-in member.
#[derive(Serialize)]
pub struct UserView {
    pub username: String,
    pub display_name: String,
    pub is_staff: bool,
    pub is_moderator: bool,
    pub avatar: Avatar,
}

/// What templates see of any member's profile.
#[derive(Serialize)]
pub struct ProfileView {
    pub username: String,
    pub display_name: String,
    pub bio: String,
    pub bio_html: String,
    pub location: String,
    pub website: String,
    pub joined: i64,
    pub avatar: Avatar,
    pub is_staff: bool,
    pub is_moderator: bool,
    pub is_active: bool,
}

pub const ROLES: [&str; 3] = ["member", "moderator", "staff"];

impl User {
    pub fn from_row(row: &Row) -> Result<User, sqlx::Error> {
        Ok(User {
            id: row.try_get("id")?,
            username: row.try_get("username")?,
            email: row.try_get("email")?,
            password_hash: row.try_get("password_hash")?,
            role: row.try_get("role")?,
            is_active: row.try_get::<i64, _>("is_active")? != 0,
            email_confirmed: row.try_get::<i64, _>("email_confirmed")? != 0,
            display_name: row.try_get("display_name")?,
            bio: crate::db::text(row, "bio")?,
            bio_html: crate::db::text(row, "bio_html")?,
            location: row.try_get("location")?,
            website: row.try_get("website")?,
            avatar_mode: row.try_get("avatar_mode")?,
            avatar_key: row.try_get("avatar_key")?,
            created_at: row.try_get("created_at")?,
        })
    }

    pub fn is_staff(&self) -> bool {
        self.role == "staff"
    }

    pub fn is_moderator(&self) -> bool {
        self.role == "moderator" || self.is_staff()
    }

    /// The name to show: the display name, or the username.
    pub fn name(&self) -> &str {
        if self.display_name.trim().is_empty() { &self.username } else { &self.display_name }
    }

    pub fn avatar(&self, config: &Config) -> Avatar {
        let [s, m, l] = config.avatars.sizes;
        if let (true, Some(key)) = (self.avatar_mode == "upload", &self.avatar_key) {
            let url = |size: u32| crate::media::url(&avatar_key(self.id, key, size));
            return Avatar { small: url(s), medium: url(m), large: url(l), uploaded: true };
        }
        if !config.avatars.gravatar {
            let url = "/static/img/avatar.svg".to_string();
            return Avatar { small: url.clone(), medium: url.clone(), large: url, uploaded: false };
        }
        let hash = crate::crypto::sha256_hex(self.email.trim().to_lowercase().as_bytes());
        let default = percent_encoding::utf8_percent_encode(
            &config.avatars.gravatar_default,
            percent_encoding::NON_ALPHANUMERIC,
        );
        // Twice the pixels for sharp pictures on high-density screens.
        let url = |size: u32| format!("https://www.gravatar.com/avatar/{hash}?s={}&d={default}", size * 2);
        Avatar { small: url(s), medium: url(m), large: url(l), uploaded: false }
    }

    pub fn view(&self, config: &Config) -> UserView {
        UserView {
            username: self.username.clone(),
            display_name: self.name().to_string(),
            is_staff: self.is_staff(),
            is_moderator: self.is_moderator(),
            avatar: self.avatar(config),
        }
    }

    pub fn profile(&self, config: &Config) -> ProfileView {
        ProfileView {
            username: self.username.clone(),
            display_name: self.name().to_string(),
            bio: self.bio.clone(),
            bio_html: self.bio_html.clone(),
            location: self.location.clone(),
            website: self.website.clone(),
            joined: self.created_at,
            avatar: self.avatar(config),
            is_staff: self.is_staff(),
            is_moderator: self.is_moderator(),
            is_active: self.is_active,
        }
    }
}

/// The media key of one avatar size.
pub fn avatar_key(user_id: i64, key: &str, size: u32) -> String {
    format!("avatars/{user_id}/{key}-{size}.jpg")
}

/// Usernames and emails are unique whatever their letter case, on every
/// backend: the lower-cased copy carries the unique index.
pub fn fold(s: &str) -> String {
    s.trim().to_lowercase()
}

pub async fn by_id(db: &Db, id: i64) -> Result<Option<User>, AppError> {
    let row = db.query("SELECT * FROM users WHERE id = ?").bind(id).fetch_optional(db.w()).await?;
    Ok(row.as_ref().map(User::from_row).transpose()?)
}

pub async fn by_username(db: &Db, username: &str) -> Result<Option<User>, AppError> {
    let row = db
        .query("SELECT * FROM users WHERE username_key = ?")
        .bind(fold(username))
        .fetch_optional(db.r())
        .await?;
    Ok(row.as_ref().map(User::from_row).transpose()?)
}

/// By username or email, as typed on the log-in form.
pub async fn by_login(db: &Db, login: &str) -> Result<Option<User>, AppError> {
    let key = fold(login);
    let row = db
        .query("SELECT * FROM users WHERE username_key = ? OR email_key = ?")
        .bind(key.clone())
        .bind(key)
        .fetch_optional(db.w())
        .await?;
    Ok(row.as_ref().map(User::from_row).transpose()?)
}

pub async fn email_taken(db: &Db, email: &str) -> Result<bool, AppError> {
    Ok(db.query("SELECT id FROM users WHERE email_key = ?").bind(fold(email)).fetch_optional(db.w()).await?.is_some())
}

pub async fn username_taken(db: &Db, username: &str) -> Result<bool, AppError> {
    Ok(db
        .query("SELECT id FROM users WHERE username_key = ?")
        .bind(fold(username))
        .fetch_optional(db.w())
        .await?
        .is_some())
}

pub struct NewUser<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub password_hash: String,
    pub role: &'a str,
    pub email_confirmed: bool,
    pub avatar_mode: &'a str,
}

/// Inserts a member and counts them in the same transaction. A duplicate
/// username or email comes back as a unique-violation database error.
pub async fn create(db: &Db, new: NewUser<'_>) -> Result<i64, sqlx::Error> {
    let now = now();
    let mut tx = db.w().begin().await?;
    let id = db
        .insert(
            "INSERT INTO users (username, username_key, email, email_key, password_hash, role, email_confirmed, \
             bio, bio_html, avatar_mode, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, '', '', ?, ?, ?)",
        )
        .bind(new.username.trim().to_string())
        .bind(fold(new.username))
        .bind(new.email.trim().to_string())
        .bind(fold(new.email))
        .bind(new.password_hash)
        .bind(new.role.to_string())
        .bind(new.email_confirmed as i64)
        .bind(new.avatar_mode.to_string())
        .bind(now)
        .bind(now)
        .run(&mut *tx)
        .await?;
    db.query("UPDATE counters SET value = value + 1 WHERE name = 'members'").execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(id)
}

/// Deletes a member; sessions and tokens go with them.
pub async fn delete(db: &Db, id: i64) -> Result<(), sqlx::Error> {
    let mut tx = db.w().begin().await?;
    let gone = db.query("DELETE FROM users WHERE id = ?").bind(id).execute(&mut *tx).await?;
    if gone.rows_affected() == 1 {
        db.query("UPDATE counters SET value = value - 1 WHERE name = 'members'").execute(&mut *tx).await?;
    }
    tx.commit().await
}

pub async fn set_password(db: &Db, id: i64, hash: String) -> Result<(), sqlx::Error> {
    db.query("UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?")
        .bind(hash)
        .bind(now())
        .bind(id)
        .execute(db.w())
        .await?;
    Ok(())
}

pub async fn touch_login(state: &AppState, id: i64) -> Result<(), sqlx::Error> {
    state.db.query("UPDATE users SET last_login_at = ? WHERE id = ?").bind(now()).bind(id).execute(state.db.w()).await?;
    Ok(())
}

pub async fn counter(db: &Db, name: &'static str) -> Result<i64, AppError> {
    let row = db.query("SELECT value FROM counters WHERE name = ?").bind(name).fetch_optional(db.r()).await?;
    Ok(row.map(|r| r.get::<i64, _>(0)).unwrap_or(0))
}

/// The newest active members, for the home page and the directory.
pub async fn newest(db: &Db, limit: i64, offset: i64) -> Result<Vec<User>, AppError> {
    let rows = db
        .query("SELECT * FROM users WHERE is_active = 1 ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?")
        .bind(limit)
        .bind(offset)
        .fetch_all(db.r())
        .await?;
    Ok(rows.iter().map(User::from_row).collect::<Result<_, _>>()?)
}

pub async fn audit(db: &Db, actor: i64, action: &str, kind: &str, target: i64, detail: &str) -> Result<(), sqlx::Error> {
    db.query("INSERT INTO audit_log (actor_id, action, target_kind, target_id, detail, created_at) VALUES (?, ?, ?, ?, ?, ?)")
        .bind(actor)
        .bind(action.to_string())
        .bind(kind.to_string())
        .bind(target)
        .bind(detail.to_string())
        .bind(now())
        .execute(db.w())
        .await?;
    Ok(())
}

/// Members by id, for showing authors beside content.
pub async fn by_ids(db: &Db, ids: &[i64]) -> Result<std::collections::HashMap<i64, User>, AppError> {
    let mut unique: Vec<i64> = ids.to_vec();
    unique.sort_unstable();
    unique.dedup();
    if unique.is_empty() {
        return Ok(Default::default());
    }
    // The ids are integers formatted here, so inlining them is safe.
    let list = unique.iter().map(|id| id.to_string()).collect::<Vec<_>>().join(",");
    let rows = sqlx::query(&format!("SELECT * FROM users WHERE id IN ({list})")).fetch_all(db.r()).await?;
    let users = rows.iter().map(User::from_row).collect::<Result<Vec<_>, _>>()?;
    Ok(users.into_iter().map(|u| (u.id, u)).collect())
}

/// What pages show of an author beside their content.
#[derive(Serialize, Clone, Debug)]
pub struct Author {
    /// Not shown; names the member's page-cache tag.
    #[serde(skip)]
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub avatar: Avatar,
    pub is_staff: bool,
    pub is_moderator: bool,
}

impl User {
    pub fn author(&self, config: &Config) -> Author {
        Author {
            id: self.id,
            username: self.username.clone(),
            display_name: self.name().to_string(),
            avatar: self.avatar(config),
            is_staff: self.is_staff(),
            is_moderator: self.is_moderator(),
        }
    }
}
