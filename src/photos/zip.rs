//! ZIP uploads: a `.zip` of images in the `file` field counts as its
//! images. Read with the deflate decoder we already have; only what phones
//! and desktops make is accepted (stored or deflated entries, no
//! encryption, no ZIP64). Nothing in a header is trusted: every entry's
//! real size is checked while it is inflated, and its CRC after.

use std::io::Read;

use super::upload::{base_name, too_many, Upload};
use crate::accounts::settings::human_size;
use crate::config::PhotosConfig;

const LOCAL: &[u8] = b"PK\x03\x04";
const CENTRAL: &[u8] = b"PK\x01\x02";
const END: &[u8] = b"PK\x05\x06";

pub fn is_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(LOCAL) || bytes.starts_with(END)
}

/// The uploads with every ZIP replaced by the images in it, at most
/// `max_files_per_upload` in all; or a sentence saying why not.
/// CPU-bound: run it off the async runtime.
pub fn expand(uploads: Vec<Upload>, config: &PhotosConfig) -> Result<Vec<Upload>, String> {
    let mut out = Vec::new();
    for upload in uploads {
        if !is_zip(&upload.bytes) {
            out.push(upload);
        } else {
            let room = config.max_files_per_upload.saturating_sub(out.len());
            let entries = read(&upload.bytes, room, config.max_bytes).map_err(|e| format!("{}: {e}", upload.name))?;
            out.extend(entries);
        }
        if out.len() > config.max_files_per_upload {
            return Err(too_many(config.max_files_per_upload));
        }
    }
    Ok(out)
}

fn u16_at(b: &[u8], at: usize) -> Option<usize> {
    b.get(at..at + 2).map(|s| u16::from_le_bytes([s[0], s[1]]) as usize)
}

fn u32_at(b: &[u8], at: usize) -> Option<usize> {
    b.get(at..at + 4).map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize)
}

const DAMAGED: &str = "that ZIP file is damaged or in a form we cannot read.";

/// The images of one ZIP: at most `room` of them, each at most `max_bytes`.
fn read(zip: &[u8], room: usize, max_bytes: usize) -> Result<Vec<Upload>, String> {
    let damaged = || DAMAGED.to_string();
    // The end record sits in the last 22 bytes plus a comment of up to 64 KB.
    let search_from = zip.len().saturating_sub(22 + 65_535);
    let end = zip[search_from..].windows(4).rposition(|w| w == END).map(|p| search_from + p).ok_or_else(damaged)?;
    let count = u16_at(zip, end + 10).ok_or_else(damaged)?;
    let mut at = u32_at(zip, end + 16).ok_or_else(damaged)?;
    let mut images = Vec::new();
    for _ in 0..count {
        if zip.get(at..at + 4) != Some(CENTRAL) {
            return Err(damaged());
        }
        let flags = u16_at(zip, at + 8).ok_or_else(damaged)?;
        let method = u16_at(zip, at + 10).ok_or_else(damaged)?;
        let crc = u32_at(zip, at + 16).ok_or_else(damaged)? as u32;
        let compressed = u32_at(zip, at + 20).ok_or_else(damaged)?;
        let declared = u32_at(zip, at + 24).ok_or_else(damaged)?;
        let name_len = u16_at(zip, at + 28).ok_or_else(damaged)?;
        let extra_len = u16_at(zip, at + 30).ok_or_else(damaged)?;
        let comment_len = u16_at(zip, at + 32).ok_or_else(damaged)?;
        let local = u32_at(zip, at + 42).ok_or_else(damaged)?;
        let name_bytes = zip.get(at + 46..at + 46 + name_len).ok_or_else(damaged)?;
        let name = String::from_utf8_lossy(name_bytes).to_string();
        at += 46 + name_len + extra_len + comment_len;

        if !safe_name(&name) {
            return Err(format!("the ZIP holds \u{201c}{}\u{201d}, a path outside the folder; it was refused.", name.chars().take(80).collect::<String>()));
        }
        if name.ends_with('/') || skipped(&name) {
            continue;
        }
        if flags & 1 != 0 {
            return Err("that ZIP file is encrypted.".into());
        }
        if images.len() >= room {
            return Err(format!("the ZIP holds more images than fit in one upload. {}", too_many(room.max(1))));
        }
        let too_large = || format!("{} in the ZIP is larger than {}.", base_name(&name), human_size(max_bytes));
        if declared > max_bytes {
            return Err(too_large());
        }
        if zip.get(local..local + 4) != Some(LOCAL) {
            return Err(damaged());
        }
        let start = local + 30 + u16_at(zip, local + 26).ok_or_else(damaged)? + u16_at(zip, local + 28).ok_or_else(damaged)?;
        let data = zip.get(start..start.checked_add(compressed).ok_or_else(damaged)?).ok_or_else(damaged)?;
        let bytes = match method {
            0 => data.to_vec(),
            8 => {
                let mut out = Vec::new();
                // One byte past the limit is enough to know it is over.
                let limit = max_bytes as u64 + 1;
                flate2::read::DeflateDecoder::new(data).take(limit).read_to_end(&mut out).map_err(|_| damaged())?;
                out
            }
            _ => return Err(damaged()),
        };
        if bytes.len() > max_bytes {
            return Err(too_large());
        }
        let mut check = flate2::Crc::new();
        check.update(&bytes);
        if bytes.len() != declared || check.sum() != crc {
            return Err(damaged());
        }
        images.push(Upload { name: base_name(&name), bytes });
    }
    Ok(images)
}

/// A relative path of plain parts: no `..`, no leading `/` or `\`, no drive.
fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && !name.starts_with('\\')
        && !name.contains(':')
        && name.split(['/', '\\']).all(|part| part != "..")
}

/// Files archivers add beside the pictures (macOS resource forks, thumbnails).
fn skipped(name: &str) -> bool {
    let base = base_name(name);
    name.starts_with("__MACOSX/") || base.starts_with("._") || base.eq_ignore_ascii_case("thumbs.db") || base == ".DS_Store"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_names_are_spotted() {
        for bad in ["../x.jpg", "a/../../x.jpg", "/etc/passwd", "\\\\server\\x.jpg", "C:\\x.jpg", "a\\..\\x.jpg"] {
            assert!(!safe_name(bad), "{bad}");
        }
        for good in ["x.jpg", "looks/summer/x.jpg", "a..b.jpg"] {
            assert!(safe_name(good), "{good}");
        }
        assert!(skipped("__MACOSX/._x.jpg") && skipped("looks/.DS_Store") && !skipped("looks/x.jpg"));
    }

    #[test]
    fn damaged_archives_are_refused() {
        assert_eq!(read(b"PK\x03\x04 not really", 5, 1000).err().as_deref(), Some(DAMAGED));
        assert_eq!(read(b"PK\x05\x06", 5, 1000).err().as_deref(), Some(DAMAGED));
    }
}
