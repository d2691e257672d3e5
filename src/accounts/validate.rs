//! The rules for usernames and email addresses, with messages for forms.

/// Names that would collide with the site's own paths or mislead members.
const RESERVED: &[&str] = &[
    "about", "account", "accounts", "admin", "administrator", "api", "archive", "assets", "auth", "blog", "blogs", "contact",
    "coterie", "feed", "feeds", "forum", "forums", "galleries", "gallery", "healthz", "help", "home", "login",
    "logout", "me", "media", "members", "metrics", "moderator", "mod", "new", "null", "photo", "photos", "privacy",
    "readyz", "root", "search", "settings", "signup", "sitemap", "staff", "static", "status", "support", "system",
    "tag", "tags", "terms", "u", "undefined", "user", "users", "webmaster", "www",
];

pub fn username(name: &str) -> Result<(), String> {
    let name = name.trim();
    let length = name.chars().count();
    if !(3..=30).contains(&length) {
        return Err("Usernames are 3 to 30 characters long.".into());
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err("Use only letters, digits, underscores and hyphens.".into());
    }
    if !name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric()) {
        return Err("Start with a letter or a digit.".into());
    }
    if RESERVED.contains(&name.to_ascii_lowercase().as_str()) {
        return Err("That username is reserved. Please choose another.".into());
    }
    Ok(())
}

pub fn email(address: &str) -> Result<(), String> {
    let address = address.trim();
    let bad = || Err("Enter an email address such as name@example.com.".into());
    if address.is_empty() || address.len() > 254 || address.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad();
    }
    let Some((local, domain)) = address.rsplit_once('@') else { return bad() };
    if local.is_empty() || local.len() > 64 || local.contains('@') || !domain.contains('.') {
        return bad();
    }
    if domain.starts_with('.') || domain.ends_with('.') || domain.contains("..") {
        return bad();
    }
    if address.parse::<lettre::Address>().is_err() {
        return bad();
    }
    Ok(())
}

/// An http(s) link, or nothing.
pub fn website(url: &str) -> Result<(), String> {
    let url = url.trim();
    if url.is_empty() {
        return Ok(());
    }
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(rest) if url.len() <= 255 && !rest.is_empty() && !rest.starts_with('/') && !url.contains(char::is_whitespace) => Ok(()),
        _ => Err("Enter a full web address starting with https://".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(username("ava_martin").is_ok());
        assert!(username("Ava-2").is_ok());
        assert!(username("ab").is_err());
        assert!(username("_ava").is_err());
        assert!(username("ava martin").is_err());
        assert!(username("évá").is_err());
        assert!(username("Admin").unwrap_err().contains("reserved"));
        assert!(username("static").is_err());
    }

    #[test]
    fn emails() {
        assert!(email("ava@example.com").is_ok());
        assert!(email("ava@localhost").is_err());
        assert!(email("ava@@example.com").is_err());
        assert!(email("a va@example.com").is_err());
        assert!(email("@example.com").is_err());
    }

    #[test]
    fn websites() {
        assert!(website("").is_ok());
        assert!(website("https://ava.example").is_ok());
        assert!(website("javascript:alert(1)").is_err());
        assert!(website("ftp://x").is_err());
    }
}
