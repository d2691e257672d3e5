//! Member-written markdown, rendered to sanitized HTML once, when saved.

use std::collections::HashSet;
use std::sync::OnceLock;

use pulldown_cmark::{html, Options, Parser};

fn cleaner() -> &'static ammonia::Builder<'static> {
    static CLEANER: OnceLock<ammonia::Builder<'static>> = OnceLock::new();
    CLEANER.get_or_init(|| {
        let mut builder = ammonia::Builder::default();
        builder
            .link_rel(Some("nofollow ugc noopener"))
            .url_schemes(HashSet::from(["http", "https", "mailto"]))
            .rm_tags(["img"]);
        builder
    })
}

/// CommonMark (with tables and strikethrough) to HTML that is safe to show:
/// no script, no style, no event handlers, links marked nofollow ugc.
pub fn render(source: &str) -> String {
    let mut raw = String::with_capacity(source.len() * 3 / 2);
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    html::push_html(&mut raw, Parser::new_ext(source, options));
    cleaner().clean(&raw).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_sanitizes() {
        assert_eq!(render("**bold**").trim(), "<p><strong>bold</strong></p>");
        let hostile = render("<script>alert(1)</script><a href=\"javascript:x\" onclick=\"y\">a</a><style>p{}</style>");
        assert!(!hostile.contains("script") && !hostile.contains("onclick") && !hostile.contains("style"), "{hostile}");
        assert!(render("[x](https://example.com)").contains("rel=\"nofollow ugc noopener\""));
    }
}

/// The first `max` characters of the text, without markup, for excerpts.
pub fn excerpt(source: &str, max: usize) -> String {
    let html = render(source);
    let text = ammonia::Builder::empty().clean(&html).to_string();
    // Decode the few entities the cleaner leaves, then fold white space.
    let text = text.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#39;", "'");
    let folded: Vec<&str> = text.split_whitespace().collect();
    let text = folded.join(" ");
    if text.chars().count() <= max {
        return text;
    }
    let cut: String = text.chars().take(max).collect();
    let cut = cut.rsplit_once(' ').map(|(a, _)| a).unwrap_or(&cut);
    format!("{}…", cut.trim_end_matches([',', '.', ';', ':']))
}

#[cfg(test)]
mod excerpt_tests {
    #[test]
    fn excerpts_are_plain_and_short() {
        assert_eq!(super::excerpt("# Title\n\nSome **bold** text & more.", 100), "Title Some bold text & more.");
        assert_eq!(super::excerpt("one two three four", 9), "one two…");
    }
}
