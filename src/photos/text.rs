//! The words members give a photo: title, caption and tags, checked alike
//! on upload and on edit.

use super::store::{PhotoText, MAX_CAPTION, MAX_TITLE};

/// The fields checked, or the field at fault and a sentence for the member.
/// An empty title is allowed: each photo is then named after its file.
pub fn check(title: &str, caption: &str, tags: &str) -> Result<PhotoText, (&'static str, String)> {
    let title = title.trim();
    if title.chars().count() > MAX_TITLE {
        return Err(("title", format!("Keep the title under {MAX_TITLE} characters.")));
    }
    if caption.chars().count() > MAX_CAPTION {
        return Err(("caption", format!("Captions can be up to {MAX_CAPTION} characters.")));
    }
    let tags = crate::tags::parse(tags).map_err(|m| ("tags", m))?;
    Ok(PhotoText { title: title.to_string(), caption: caption.trim().to_string(), tags })
}

/// The title a photo gets: the one given (numbered when one upload holds
/// many), or its file name without extension, or "Untitled".
pub fn title_for(given: &str, file_name: &str, number: Option<usize>) -> String {
    if !given.is_empty() {
        return match number {
            Some(n) if n > 1 => format!("{given} ({n})"),
            _ => given.to_string(),
        };
    }
    let stem = file_name.rsplit_once('.').map(|(s, _)| s).unwrap_or(file_name);
    let words: Vec<&str> = stem.split(['_', '-', ' ']).filter(|w| !w.is_empty()).collect();
    let title: String = words.join(" ").chars().take(MAX_TITLE).collect();
    if title.is_empty() { "Untitled".to_string() } else { title }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_from_the_form_or_the_file() {
        assert_eq!(title_for("Linen", "a.jpg", None), "Linen");
        assert_eq!(title_for("Linen", "a.jpg", Some(1)), "Linen");
        assert_eq!(title_for("Linen", "a.jpg", Some(3)), "Linen (3)");
        assert_eq!(title_for("", "summer_look-2.jpg", Some(2)), "summer look 2");
        assert_eq!(title_for("", ".jpg", None), "Untitled");
    }

    #[test]
    fn long_or_badly_tagged_text_is_refused() {
        assert_eq!(check(&"x".repeat(MAX_TITLE + 1), "", "").err().map(|e| e.0), Some("title"));
        assert_eq!(check("a", &"x".repeat(MAX_CAPTION + 1), "").err().map(|e| e.0), Some("caption"));
        assert_eq!(check("a", "", "<b>").err().map(|e| e.0), Some("tags"));
        assert_eq!(check(" a ", "c", "Linen, linen").unwrap().tags, ["linen"]);
    }
}
