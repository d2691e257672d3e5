//! Passwords: argon2id hashes made off the async runtime, and the rules a
//! new password must pass.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::web::error::AppError;

pub async fn hash(password: String) -> Result<String, AppError> {
    off_the_runtime(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string())
    })
    .await?
    .map_err(|e| AppError::Internal(anyhow::anyhow!("argon2: {e}")))
}

/// Checks `password` against `stored`. With no stored hash (no such member)
/// it still does the work of one check, so timing does not tell.
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, AppError> {
    off_the_runtime(move || {
        let stored = stored.unwrap_or_else(|| DECOY.with(|d| d.clone()));
        let Ok(parsed) = PasswordHash::new(&stored) else { return false };
        Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok()
    })
    .await
}

/// Runs one argon2 computation on a blocking thread, at most one per core
/// at a time: each takes about 19 MB, so a crowd logging in at once would
/// otherwise take gigabytes (and the core's time is taken either way).
async fn off_the_runtime<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, AppError> {
    static RUNNING: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
        tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    });
    let _permit = RUNNING.acquire().await.map_err(|e| AppError::Internal(e.into()))?;
    tokio::task::spawn_blocking(work).await.map_err(|e| AppError::Internal(e.into()))
}

thread_local! {
    static DECOY: String = {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default().hash_password(b"no such member", &salt).map(|h| h.to_string()).unwrap_or_default()
    };
}

/// Why a new password is refused, in words for the form; None if it is fine.
pub fn weakness(password: &str, min_length: usize, username: &str, email: &str) -> Option<String> {
    let length = password.chars().count();
    if length < min_length {
        return Some(format!("Use at least {min_length} characters."));
    }
    if length > 256 {
        return Some("Use at most 256 characters.".into());
    }
    let lower = password.to_lowercase();
    if !username.is_empty() && lower.contains(&username.to_lowercase()) {
        return Some("Your password must not contain your username.".into());
    }
    let local = email.split('@').next().unwrap_or_default().to_lowercase();
    if local.len() >= 4 && lower.contains(&local) {
        return Some("Your password must not contain your email address.".into());
    }
    let inputs: Vec<&str> = [username, email].into_iter().filter(|s| !s.is_empty()).collect();
    match zxcvbn::zxcvbn(password, &inputs).score() {
        zxcvbn::Score::Zero | zxcvbn::Score::One | zxcvbn::Score::Two => {
            Some("That password is too common or too easy to guess. Try a few unrelated words together.".into())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_passwords_are_refused_with_a_reason() {
        assert!(weakness("short", 10, "ava", "ava@example.com").unwrap().contains("at least 10"));
        assert!(weakness("password1234", 10, "ava", "ava@example.com").unwrap().contains("too common"));
        assert!(weakness("qwertyuiop", 10, "ava", "ava@example.com").is_some());
        assert!(weakness("ava_martin_2026", 10, "ava_martin", "a@example.com").unwrap().contains("username"));
        assert!(weakness("velvet-harbor-lantern-91", 10, "ava", "ava@example.com").is_none());
    }

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let h = hash("velvet-harbor-lantern-91".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("velvet-harbor-lantern-91".into(), Some(h.clone())).await.unwrap());
        assert!(!verify("wrong".into(), Some(h)).await.unwrap());
        assert!(!verify("anything".into(), None).await.unwrap());
    }
}
