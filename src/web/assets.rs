//! Static files of the theme: embedded defaults overlaid by the theme
//! folder, held in memory, served under content-hashed names with immutable
//! caching, ETags, and gzip/brotli made once on first request.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::app::AppState;
use crate::web::error::AppError;

pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

pub struct Asset {
    pub body: Bytes,
    pub content_type: &'static str,
    /// First 10 hex digits of the SHA-256 of the content.
    pub hash: String,
    etag: HeaderValue,
    gzip: OnceLock<Option<Bytes>>,
    brotli: OnceLock<Option<Bytes>>,
}

#[derive(Default)]
pub struct Assets {
    /// By logical path, such as `css/coterie.css`.
    files: HashMap<String, Arc<Asset>>,
    /// Hashed path (`css/coterie.3fa2c1d0e9.css`) to logical path.
    hashed: HashMap<String, String>,
}

impl Assets {
    pub fn load(embedded: &[(&str, &'static [u8])], theme_dir: Option<&Path>) -> anyhow::Result<Assets> {
        let mut sources: HashMap<String, Bytes> =
            embedded.iter().map(|(p, b)| (p.to_string(), Bytes::from_static(b))).collect();
        if let Some(dir) = theme_dir.map(|d| d.join("static")).filter(|d| d.is_dir()) {
            for (path, bytes) in read_tree(&dir)? {
                sources.insert(path, bytes);
            }
        }
        let mut assets = Assets::default();
        for (path, body) in sources {
            let hash = crate::crypto::sha256_hex(&body)[..10].to_string();
            assets.hashed.insert(hashed_name(&path, &hash), path.clone());
            let etag = HeaderValue::from_str(&format!("\"{hash}\"")).expect("hex is a valid header");
            let asset = Asset {
                content_type: content_type(&path),
                body,
                hash,
                etag,
                gzip: OnceLock::new(),
                brotli: OnceLock::new(),
            };
            assets.files.insert(path, Arc::new(asset));
        }
        Ok(assets)
    }

    /// The URL to put in pages for a static file.
    pub fn url(&self, path: &str) -> Option<String> {
        self.files.get(path).map(|a| format!("/static/{}", hashed_name(path, &a.hash)))
    }

    /// A file by hashed name (immutable) or by plain name (revalidated).
    fn find(&self, requested: &str) -> Option<(Arc<Asset>, bool)> {
        if let Some(logical) = self.hashed.get(requested) {
            return self.files.get(logical).map(|a| (a.clone(), true));
        }
        self.files.get(requested).map(|a| (a.clone(), false))
    }
}

impl Assets {
    /// Writes every file under `dir` for a web server in front to serve:
    /// each under its hashed name (to be served immutable) and its plain
    /// name, with `.gz` and `.br` copies of text files beside them for
    /// nginx's `gzip_static`/`brotli_static`. Returns how many files.
    pub fn export(&self, dir: &Path) -> anyhow::Result<usize> {
        let mut written = 0;
        for (path, asset) in &self.files {
            for name in [hashed_name(path, &asset.hash), path.clone()] {
                let target = dir.join(&name);
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                let mut copies = vec![(target.clone(), &asset.body)];
                if compressible(asset.content_type) {
                    copies.extend(asset.gzip().map(|gz| (with_suffix(&target, ".gz"), gz)));
                    copies.extend(asset.brotli().map(|br| (with_suffix(&target, ".br"), br)));
                }
                for (file, body) in copies {
                    std::fs::write(&file, body).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", file.display()))?;
                    written += 1;
                }
            }
        }
        Ok(written)
    }
}

fn with_suffix(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

fn read_tree(root: &Path) -> anyhow::Result<Vec<(String, Bytes)>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(root)?.to_string_lossy().replace('\\', "/");
                out.push((rel, Bytes::from(std::fs::read(&path)?)));
            }
        }
    }
    Ok(out)
}

/// `css/site.css` with hash `ab12` becomes `css/site.ab12.css`.
fn hashed_name(path: &str, hash: &str) -> String {
    match path.rsplit_once('.') {
        Some((stem, ext)) if !stem.ends_with('/') => format!("{stem}.{hash}.{ext}"),
        _ => format!("{path}.{hash}"),
    }
}

pub fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default().to_ascii_lowercase().as_str() {
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "json" | "webmanifest" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "html" => "text/html; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn compressible(content_type: &str) -> bool {
    content_type.starts_with("text/") || content_type.contains("svg") || content_type.contains("json")
}

impl Asset {
    fn gzip(&self) -> Option<&Bytes> {
        self.gzip
            .get_or_init(|| {
                let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
                encoder.write_all(&self.body).ok()?;
                smaller(encoder.finish().ok()?, self.body.len())
            })
            .as_ref()
    }

    fn brotli(&self) -> Option<&Bytes> {
        self.brotli
            .get_or_init(|| {
                let mut out = Vec::new();
                let params = brotli::enc::BrotliEncoderParams { quality: 11, ..Default::default() };
                brotli::BrotliCompress(&mut &self.body[..], &mut out, &params).ok()?;
                smaller(out, self.body.len())
            })
            .as_ref()
    }
}

fn smaller(compressed: Vec<u8>, original: usize) -> Option<Bytes> {
    (compressed.len() < original).then(|| Bytes::from(compressed))
}

/// Does the request accept `coding`?
pub fn accepts(headers: &HeaderMap, coding: &str) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or_default().trim();
            let refused = parts.any(|p| matches!(p.trim().replace(' ', "").as_str(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            name.eq_ignore_ascii_case(coding) && !refused
        })
}

/// Does the request's If-None-Match name this ETag?
pub fn not_modified(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == "*" || t.trim().trim_start_matches("W/") == etag))
}

pub async fn serve(State(state): State<AppState>, UrlPath(path): UrlPath<String>, headers: HeaderMap) -> Response {
    state.assets.answer(&path, &headers).unwrap_or_else(|| AppError::NotFound.into_response())
}

impl Assets {
    /// The answer to a request for the file at `path`, None if there is none.
    pub fn answer(&self, path: &str, headers: &HeaderMap) -> Option<Response> {
        let (asset, immutable) = self.find(path)?;
        Some(asset.answer(immutable, headers))
    }
}

impl Asset {
    fn answer(&self, immutable: bool, headers: &HeaderMap) -> Response {
        let cache = if immutable { IMMUTABLE } else { "public, max-age=300, must-revalidate" };
        let mut response = if not_modified(headers, &self.etag) {
            StatusCode::NOT_MODIFIED.into_response()
        } else if headers.contains_key(header::RANGE) {
            // Ranges are of the file as it is, not of a compressed copy.
            super::ranges::select(headers, self.body.clone(), &self.etag).into_response()
        } else {
            let (body, coding) = if compressible(self.content_type) {
                match (accepts(headers, "br").then(|| self.brotli()).flatten(), accepts(headers, "gzip")) {
                    (Some(br), _) => (br.clone(), Some("br")),
                    (None, true) => match self.gzip() {
                        Some(gz) => (gz.clone(), Some("gzip")),
                        None => (self.body.clone(), None),
                    },
                    _ => (self.body.clone(), None),
                }
            } else {
                (self.body.clone(), None)
            };
            let mut response = body.into_response();
            if let Some(coding) = coding {
                response.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
            }
            response
        };
        let h = response.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(self.content_type));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        h.insert(header::ETAG, self.etag.clone());
        if compressible(self.content_type) {
            h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        }
        if !h.contains_key(header::CONTENT_ENCODING) {
            h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names_and_lookup() {
        let assets = Assets::load(&[("css/site.css", &b"body{color:red}"[..])], None).unwrap();
        let url = assets.url("css/site.css").unwrap();
        assert!(url.starts_with("/static/css/site.") && url.ends_with(".css"), "{url}");
        let hashed = url.trim_start_matches("/static/");
        assert!(assets.find(hashed).unwrap().1);
        assert!(!assets.find("css/site.css").unwrap().1);
        assert!(assets.url("css/missing.css").is_none());
    }

    #[test]
    fn export_writes_hashed_plain_and_compressed_copies() {
        let css: &'static str = Box::leak("body { color: red; }\n".repeat(50).into_boxed_str());
        let assets = Assets::load(&[("css/site.css", css.as_bytes()), ("img/a.png", &b"\x89PNG"[..])], None).unwrap();
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(assets.export(dir.path()).unwrap(), 2 * 3 + 2);
        let hashed = assets.url("css/site.css").unwrap().trim_start_matches("/static/").to_string();
        assert_eq!(std::fs::read(dir.path().join(&hashed)).unwrap(), css.as_bytes());
        let mut unzipped = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(std::fs::File::open(dir.path().join(format!("{hashed}.gz"))).unwrap()),
            &mut unzipped,
        )
        .unwrap();
        assert_eq!(unzipped, css);
        assert!(dir.path().join("css/site.css.br").exists());
        assert!(dir.path().join("img/a.png").exists() && !dir.path().join("img/a.png.gz").exists());
    }

    #[test]
    fn accept_encoding_parsing() {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip, deflate, br;q=0"));
        assert!(accepts(&h, "gzip"));
        assert!(!accepts(&h, "br"));
    }
}
