//! Tags as members type them ("Linen, summer-look  #capsule") and as they
//! are stored and linked: lower-case words of letters, digits and hyphens.
//! Photos and blog posts share these rules, so `/tags/linen` means the same
//! word everywhere.

/// How many tags one item may carry.
pub const MAX_TAGS: usize = 10;
/// The longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 32;

/// Parses a comma-separated list into normalised, distinct tags in the
/// order given. A leading `#` is dropped, spaces inside a tag become
/// hyphens, and case is folded. Refuses (with a sentence for the member)
/// a list with more than [`MAX_TAGS`] tags or a tag longer than
/// [`MAX_TAG_CHARS`] or made of anything but letters, digits and hyphens.
pub fn parse(input: &str) -> Result<Vec<String>, String> {
    let mut tags: Vec<String> = Vec::new();
    for raw in input.split(',') {
        let Some(tag) = normalise(raw) else { continue };
        if tag.chars().count() > MAX_TAG_CHARS {
            return Err(format!("Tags can be at most {MAX_TAG_CHARS} characters long."));
        }
        if !tag.chars().all(|c| c.is_alphanumeric() || c == '-') {
            return Err(format!("The tag \u{201c}{tag}\u{201d} can only have letters, digits and hyphens."));
        }
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(format!("Use at most {MAX_TAGS} tags."));
    }
    Ok(tags)
}

/// One tag as stored, or None when nothing is left of it. Also used for a
/// tag taken from a URL, so `/tags/Linen` finds `linen`.
pub fn normalise(raw: &str) -> Option<String> {
    let trimmed = raw.trim().trim_start_matches('#').trim();
    let words: Vec<&str> = trimmed.split_whitespace().collect();
    let tag = words.join("-").to_lowercase();
    let tag = tag.trim_matches('-').to_string();
    (!tag.is_empty()).then_some(tag)
}

/// The stored tags as the comma-separated text an edit form shows.
pub fn join(tags: &[String]) -> String {
    tags.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_normalised_and_distinct() {
        assert_eq!(parse("Linen, summer look ,#Capsule, linen,,").unwrap(), ["linen", "summer-look", "capsule"]);
        assert_eq!(parse("").unwrap(), Vec::<String>::new());
        assert_eq!(parse("  ,  # , ").unwrap(), Vec::<String>::new());
        assert_eq!(parse("Prêt-à-porter").unwrap(), ["prêt-à-porter"]);
        assert_eq!(normalise(" #Summer Look "), Some("summer-look".to_string()));
        assert_eq!(join(&parse("a, b").unwrap()), "a, b");
    }

    #[test]
    fn bad_tags_are_refused() {
        assert!(parse("<script>").is_err());
        assert!(parse("a/b").is_err());
        assert!(parse(&"x".repeat(MAX_TAG_CHARS + 1)).is_err());
        assert!(parse(&"x".repeat(MAX_TAG_CHARS)).is_ok());
        let many: Vec<String> = (0..=MAX_TAGS).map(|i| format!("t{i}")).collect();
        assert!(parse(&many.join(",")).is_err());
        assert!(parse(&many[..MAX_TAGS].join(",")).is_ok());
    }
}
