//! Single-use tokens sent by email (confirm an address, reset a password,
//! change an address). The link holds the token; the table its digest.

use sqlx::Row as _;

use crate::crypto;
use crate::db::{now, Db};
use crate::web::error::AppError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Confirm,
    Reset,
    ChangeEmail,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Confirm => "confirm",
            Purpose::Reset => "reset",
            Purpose::ChangeEmail => "email",
        }
    }
}

/// A live token's owner and data.
pub struct Claim {
    pub user_id: i64,
    pub purpose: Purpose,
    pub data: String,
}

/// Makes a token and returns the text for the link. Earlier unused tokens
/// of the same purpose for this member stop working.
pub async fn issue(db: &Db, user_id: i64, purpose: Purpose, data: &str, hours: i64) -> Result<String, AppError> {
    let token = crypto::random_token();
    let now = now();
    let mut tx = db.w().begin().await?;
    db.query("UPDATE account_tokens SET used_at = ? WHERE user_id = ? AND purpose = ? AND used_at IS NULL")
        .bind(now)
        .bind(user_id)
        .bind(purpose.as_str())
        .execute(&mut *tx)
        .await?;
    db.query("INSERT INTO account_tokens (id, user_id, purpose, data, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)")
        .bind(crypto::sha256_hex(token.as_bytes()))
        .bind(user_id)
        .bind(purpose.as_str())
        .bind(data.to_string())
        .bind(now)
        .bind(now + hours * 3600)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(token)
}

/// The claim of a live token of one of `purposes`, without using it up.
pub async fn peek(db: &Db, token: &str, purposes: &[Purpose]) -> Result<Option<Claim>, AppError> {
    let row = db
        .query("SELECT user_id, purpose, data FROM account_tokens WHERE id = ? AND used_at IS NULL AND expires_at > ?")
        .bind(crypto::sha256_hex(token.as_bytes()))
        .bind(now())
        .fetch_optional(db.w())
        .await?;
    let Some(row) = row else { return Ok(None) };
    let name: String = row.try_get("purpose")?;
    let Some(purpose) = purposes.iter().copied().find(|p| p.as_str() == name) else { return Ok(None) };
    Ok(Some(Claim { user_id: row.try_get("user_id")?, purpose, data: row.try_get("data")? }))
}

/// Uses a token up. Of two requests racing with one token, one wins.
pub async fn redeem(db: &Db, token: &str, purposes: &[Purpose]) -> Result<Option<Claim>, AppError> {
    let Some(claim) = peek(db, token, purposes).await? else { return Ok(None) };
    let done = db
        .query("UPDATE account_tokens SET used_at = ? WHERE id = ? AND used_at IS NULL AND expires_at > ?")
        .bind(now())
        .bind(crypto::sha256_hex(token.as_bytes()))
        .bind(now())
        .execute(db.w())
        .await?;
    Ok((done.rows_affected() == 1).then_some(claim))
}

/// The address a member asked to move to and has not confirmed yet.
pub async fn pending_email(db: &Db, user_id: i64) -> Result<Option<String>, AppError> {
    let row = db
        .query(
            "SELECT data FROM account_tokens WHERE user_id = ? AND purpose = 'email' AND used_at IS NULL AND expires_at > ? \
             ORDER BY created_at DESC LIMIT 1",
        )
        .bind(user_id)
        .bind(now())
        .fetch_optional(db.r())
        .await?;
    Ok(row.map(|r| r.get::<String, _>(0)))
}
