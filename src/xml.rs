//! Writing XML by hand for feeds and the sitemap: escaping, and the two
//! date formats they use.

/// Text for XML content or a quoted attribute. Characters XML 1.0 cannot
/// carry at all (most control characters) are dropped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// `<name>text</name>` and a line break, the text escaped.
pub fn element(out: &mut String, name: &str, text: &str) {
    out.push_str(&format!("<{name}>{}</{name}>\n", escape(text)));
}

fn at(unix: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// `Thu, 01 Jan 1970 00:00:00 +0000`, as RSS wants it.
pub fn rfc2822(unix: i64) -> String {
    at(unix).format(&time::format_description::well_known::Rfc2822).unwrap_or_default()
}

/// `1970-01-01T00:00:00Z`, as Atom and sitemaps want it.
pub fn rfc3339(unix: i64) -> String {
    at(unix).format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape("Tom & <Jerry> \"'"), "Tom &amp; &lt;Jerry&gt; &quot;&apos;");
        assert_eq!(escape("a]]>b\u{1}c\n"), "a]]&gt;bc\n");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc2822(0), "Thu, 01 Jan 1970 00:00:00 +0000");
    }
}
