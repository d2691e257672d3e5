//! Byte ranges (`Range: bytes=...`) of files held whole in memory: resumed
//! downloads and media players ask for them. One range per request; a
//! request for several gets the whole file, as RFC 9110 allows.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

/// What to send for `body` given the request's `Range` (and `If-Range`).
pub enum Part {
    /// No usable range: the whole file, 200.
    Whole(Bytes),
    /// 206 with this slice and its `Content-Range`.
    Slice(Bytes, HeaderValue),
    /// 416: the range lies outside the file.
    Unsatisfiable(HeaderValue),
}

pub fn select(request: &HeaderMap, body: Bytes, etag: &HeaderValue) -> Part {
    let Some(range) = request.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Part::Whole(body);
    };
    // A range of an older version would be garbage: send the new one whole.
    if let Some(if_range) = request.get(header::IF_RANGE) {
        if if_range != etag {
            return Part::Whole(body);
        }
    }
    let len = body.len() as u64;
    match parse(range, len) {
        Parsed::Ignore => Part::Whole(body),
        Parsed::Unsatisfiable => Part::Unsatisfiable(content_range(&format!("bytes */{len}"))),
        Parsed::Range(start, end) => {
            let slice = body.slice(start as usize..=end as usize);
            Part::Slice(slice, content_range(&format!("bytes {start}-{end}/{len}")))
        }
    }
}

impl Part {
    /// The response, before the caller's own headers (type, caching, ETag).
    pub fn into_response(self) -> Response {
        let mut response = match self {
            Part::Whole(body) => body.into_response(),
            Part::Slice(body, range) => {
                let mut r = (StatusCode::PARTIAL_CONTENT, body).into_response();
                r.headers_mut().insert(header::CONTENT_RANGE, range);
                r
            }
            Part::Unsatisfiable(range) => {
                let mut r = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
                r.headers_mut().insert(header::CONTENT_RANGE, range);
                r
            }
        };
        response.headers_mut().insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        response
    }
}

fn content_range(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).expect("digits and spaces are a valid header")
}

#[derive(Debug, PartialEq)]
enum Parsed {
    Ignore,
    Unsatisfiable,
    /// First and last byte, inclusive.
    Range(u64, u64),
}

fn parse(header: &str, len: u64) -> Parsed {
    let Some(spec) = header.trim().strip_prefix("bytes=") else { return Parsed::Ignore };
    if spec.contains(',') {
        return Parsed::Ignore;
    }
    let Some((first, last)) = spec.trim().split_once('-') else { return Parsed::Ignore };
    let number = |s: &str| s.trim().parse::<u64>().ok();
    match (first.trim(), last.trim()) {
        ("", "") => Parsed::Ignore,
        // The last n bytes.
        ("", n) => match number(n) {
            Some(0) => Parsed::Unsatisfiable,
            Some(_) if len == 0 => Parsed::Unsatisfiable,
            Some(n) => Parsed::Range(len.saturating_sub(n), len - 1),
            None => Parsed::Ignore,
        },
        (a, b) => {
            let Some(start) = number(a) else { return Parsed::Ignore };
            let end = if b.is_empty() { Some(u64::MAX) } else { number(b) };
            match end {
                None => Parsed::Ignore,
                Some(end) if end < start => Parsed::Ignore,
                Some(_) if start >= len => Parsed::Unsatisfiable,
                Some(end) => Parsed::Range(start, end.min(len - 1)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_parsed_as_rfc_9110_says() {
        assert_eq!(parse("bytes=0-99", 1000), Parsed::Range(0, 99));
        assert_eq!(parse("bytes=900-", 1000), Parsed::Range(900, 999));
        assert_eq!(parse("bytes=-100", 1000), Parsed::Range(900, 999));
        assert_eq!(parse("bytes=-5000", 1000), Parsed::Range(0, 999));
        assert_eq!(parse("bytes=990-5000", 1000), Parsed::Range(990, 999));
        assert_eq!(parse("bytes=1000-", 1000), Parsed::Unsatisfiable);
        assert_eq!(parse("bytes=-0", 1000), Parsed::Unsatisfiable);
        assert_eq!(parse("bytes=5-1", 1000), Parsed::Ignore);
        assert_eq!(parse("bytes=0-1,5-9", 1000), Parsed::Ignore);
        assert_eq!(parse("items=0-1", 1000), Parsed::Ignore);
        assert_eq!(parse("bytes=x-1", 1000), Parsed::Ignore);
        assert_eq!(parse("bytes=0-0", 0), Parsed::Unsatisfiable);
    }

    #[test]
    fn if_range_with_another_version_gets_the_whole_file() {
        let etag = HeaderValue::from_static("\"v2\"");
        let mut h = HeaderMap::new();
        h.insert(header::RANGE, HeaderValue::from_static("bytes=0-1"));
        assert!(matches!(select(&h, Bytes::from_static(b"abcdef"), &etag), Part::Slice(b, _) if &b[..] == b"ab"));
        h.insert(header::IF_RANGE, HeaderValue::from_static("\"v1\""));
        assert!(matches!(select(&h, Bytes::from_static(b"abcdef"), &etag), Part::Whole(_)));
    }
}
