//! Avatar processing: recognise an upload, decode it within limits, honour its
//! EXIF orientation, centre-crop it to a square and re-encode it as small,
//! metadata-free JPEGs.
//!
//! Everything here is synchronous and CPU-bound, so callers run it inside
//! `tokio::task::spawn_blocking`. Uploads are hostile: the byte size and the
//! header's pixel count are checked before any pixel buffer exists, and no
//! path that depends on the input can panic.
//!
//! Photos go through [`super::pipeline`], which shares the checks here and
//! adds DCT-scaled JPEG decoding, several sizes, and WebP.

use std::cmp::Reverse;
use std::io::Cursor;

use fast_image_resize as fr;
use image::codecs::jpeg::JpegEncoder;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageReader, Rgb, RgbImage};

/// JPEG quality used for every avatar size.
const AVATAR_QUALITY: u8 = 85;

/// JPEG cannot store a side longer than this.
const MAX_JPEG_SIDE: u32 = 65_535;

/// The widest pixel any of our decoders can produce (16-bit RGBA).
const MAX_BYTES_PER_PIXEL: u64 = 8;

/// Room for decoder scratch space (row buffers, palettes, metadata chunks)
/// on top of the output buffer itself.
const DECODER_SCRATCH_BYTES: u64 = 64 * 1024 * 1024;

/// What an upload may weigh before we look at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageLimits {
    /// Largest accepted file, in bytes.
    pub max_bytes: usize,
    /// Largest accepted width × height, as claimed by the file's header.
    pub max_pixels: u64,
}

impl Default for ImageLimits {
    /// 5 MB and 40 megapixels: roomy for phone photos, small enough for a
    /// blocking worker thread.
    fn default() -> Self {
        Self {
            max_bytes: 5 * 1024 * 1024,
            max_pixels: 40_000_000,
        }
    }
}

/// The upload formats we accept, recognised by their magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Jpeg,
    Png,
    Webp,
    Gif,
}

impl From<ImageFormat> for image::ImageFormat {
    fn from(format: ImageFormat) -> Self {
        match format {
            ImageFormat::Jpeg => image::ImageFormat::Jpeg,
            ImageFormat::Png => image::ImageFormat::Png,
            ImageFormat::Webp => image::ImageFormat::WebP,
            ImageFormat::Gif => image::ImageFormat::Gif,
        }
    }
}

/// Why an upload was refused. `Display` is a sentence meant for the member
/// who submitted the form, so it never mentions decoder internals.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    #[error("That file is empty.")]
    Empty,
    #[error("That file is larger than {}.", describe_bytes(*.max_bytes))]
    TooLarge { max_bytes: usize },
    #[error("That file is not a JPEG, PNG, WebP or GIF image.")]
    NotAnImage,
    #[error(
        "That image is {width}×{height} pixels; the limit is {}.",
        describe_pixels(*.max_pixels)
    )]
    TooManyPixels {
        width: u32,
        height: u32,
        max_pixels: u64,
    },
    #[error("That image is damaged or incomplete and could not be read.")]
    Corrupt,
}

/// Identifies the format from its magic bytes alone; file names and declared
/// content types are never trusted.
pub fn sniff(bytes: &[u8]) -> Option<ImageFormat> {
    const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(ImageFormat::Jpeg)
    } else if bytes.starts_with(PNG_SIGNATURE) {
        Some(ImageFormat::Png)
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some(ImageFormat::Gif)
    } else if bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP".as_slice()) {
        Some(ImageFormat::Webp)
    } else {
        None
    }
}

/// Decodes an upload into pixels, upright.
///
/// Checks run cheapest first: emptiness, byte size, magic bytes, then the
/// dimensions from the header, all before a pixel buffer is allocated. The
/// EXIF orientation (JPEG APP1, PNG eXIf, WebP EXIF) is applied; broken or
/// missing EXIF is ignored. Animated GIF/WebP yield their first frame.
///
/// The image keeps its decoded colour type (RGB8 for most JPEGs, RGBA8 or
/// 16-bit for some PNGs); [`square`] accepts any of them.
pub fn decode(bytes: &[u8], limits: &ImageLimits) -> Result<DynamicImage, ImageError> {
    let (mut image, format) = decode_as_stored(bytes, limits)?;
    if let Some(orientation) = orientation(bytes, format) {
        image.apply_orientation(orientation);
    }
    Ok(image)
}

/// The cheap checks, in order: emptiness, byte size, magic bytes.
pub(crate) fn check_upload(bytes: &[u8], limits: &ImageLimits) -> Result<ImageFormat, ImageError> {
    if bytes.is_empty() {
        return Err(ImageError::Empty);
    }
    if bytes.len() > limits.max_bytes {
        return Err(ImageError::TooLarge {
            max_bytes: limits.max_bytes,
        });
    }
    sniff(bytes).ok_or(ImageError::NotAnImage)
}

/// Refuses a header that claims no pixels or more than the budget.
pub(crate) fn check_dimensions(
    width: u32,
    height: u32,
    limits: &ImageLimits,
) -> Result<(), ImageError> {
    if width == 0 || height == 0 {
        return Err(ImageError::Corrupt);
    }
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(ImageError::TooManyPixels {
            width,
            height,
            max_pixels: limits.max_pixels,
        });
    }
    Ok(())
}

/// [`decode`] without the EXIF orientation: the pixels as stored, and the
/// format they came in. The photo pipeline orients its small outputs instead
/// of the full-size decode, which saves a full-size copy.
pub(crate) fn decode_as_stored(
    bytes: &[u8],
    limits: &ImageLimits,
) -> Result<(DynamicImage, ImageFormat), ImageError> {
    let format = check_upload(bytes, limits)?;

    // Building the decoder parses headers only. Dimension limits are left off
    // here so that an oversized image is reported by our own check below,
    // with its real size, rather than as an anonymous decoder error.
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format.into());
    reader.limits(allocation_limits(limits));
    let mut decoder = reader.into_decoder().map_err(|_| ImageError::Corrupt)?;

    let (width, height) = decoder.dimensions();
    check_dimensions(width, height, limits)?;
    let too_many_pixels = ImageError::TooManyPixels {
        width,
        height,
        max_pixels: limits.max_pixels,
    };

    // Second guard: the decoder enforces the same budget on its own
    // allocations (a GIF frame larger than its screen, say), with the output
    // buffer already counted against it.
    let mut guard = decoder_limits(limits);
    guard
        .reserve(decoder.total_bytes())
        .map_err(|_| too_many_pixels.clone())?;
    decoder.set_limits(guard).map_err(|_| too_many_pixels)?;

    // The JPEG decoder quietly pads missing scan data with grey, so a cut-off
    // upload would "succeed"; insist on reaching the end-of-image marker.
    if format == ImageFormat::Jpeg && !jpeg_reaches_end(bytes) {
        return Err(ImageError::Corrupt);
    }

    let image = DynamicImage::from_decoder(decoder).map_err(|_| ImageError::Corrupt)?;
    Ok((image, format))
}

/// The EXIF orientation of an upload, if it has one that means anything.
/// GIF has no EXIF; for the others a bad block just means "no rotation".
pub(crate) fn orientation(bytes: &[u8], format: ImageFormat) -> Option<Orientation> {
    if format == ImageFormat::Gif {
        return None;
    }
    exif_orientation(bytes).filter(|&o| o != Orientation::NoTransforms)
}

/// Centre-crops to a square, flattens any transparency onto white, and
/// resizes to `size`×`size` with Lanczos3.
///
/// Never upscales: when the square's side is shorter than `size`, the result
/// keeps the source's side. A `size` of 0 is treated as 1, and the side is
/// capped at 65 535 so the result can always be a JPEG. An image with no
/// pixels gives an empty (0×0) result.
pub fn square(img: &DynamicImage, size: u32) -> RgbImage {
    let flat = centre_square_on_white(img);
    let side = output_side(size, flat.width());
    if side < flat.width() {
        resize_square(&mut fr::Resizer::new(), &flat, side)
    } else {
        flat
    }
}

/// Encodes a baseline JPEG carrying no metadata: no EXIF, no ICC profile, no
/// comments; only the JFIF header the format requires.
///
/// Returns an empty `Vec` if the image cannot be a JPEG (a side of 0 or over
/// 65 535 pixels); [`square`] never produces such an image.
pub fn encode_jpeg(img: &RgbImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    // A fresh encoder only writes metadata it is handed, and we hand it none.
    match JpegEncoder::new_with_quality(&mut out, quality).encode_image(img) {
        Ok(()) => out,
        Err(_) => Vec::new(),
    }
}

/// Turns an upload into one JPEG per requested size (quality 85).
///
/// Decodes once, then resizes from the largest size down, each size from the
/// previous result, which is much cheaper than starting from the full image
/// every time. Results come back in the order of `sizes`, each paired with
/// the size that was asked for; the JPEG itself is smaller than that when the
/// upload is (see [`square`]).
pub fn avatar_sizes(
    bytes: &[u8],
    limits: &ImageLimits,
    sizes: &[u32],
) -> Result<Vec<(u32, Vec<u8>)>, ImageError> {
    let image = decode(bytes, limits)?;
    let mut current = centre_square_on_white(&image);
    // The full-size decode is no longer needed; free it before resizing.
    drop(image);

    let mut jobs: Vec<(usize, u32)> = sizes.iter().copied().enumerate().collect();
    jobs.sort_by_key(|&(_, size)| Reverse(size));

    let mut resizer = fr::Resizer::new();
    let mut encoded = Vec::with_capacity(jobs.len());
    for (index, size) in jobs {
        let side = output_side(size, current.width());
        if side < current.width() {
            current = resize_square(&mut resizer, &current, side);
        }
        let jpeg = encode_jpeg(&current, AVATAR_QUALITY);
        // Unreachable by construction, but never hand back an empty file.
        if jpeg.is_empty() {
            return Err(ImageError::Corrupt);
        }
        encoded.push((index, size, jpeg));
    }

    encoded.sort_by_key(|&(index, _, _)| index);
    Ok(encoded
        .into_iter()
        .map(|(_, size, jpeg)| (size, jpeg))
        .collect())
}

/// Memory budget for building the decoder: enough for the largest allowed
/// image at the widest pixel type, plus scratch. PNG also applies it to
/// metadata chunks, which stops compressed-text bombs.
pub(crate) fn allocation_limits(limits: &ImageLimits) -> image::Limits {
    let mut budget = image::Limits::default();
    budget.max_alloc = Some(
        limits
            .max_pixels
            .saturating_mul(MAX_BYTES_PER_PIXEL)
            .saturating_add(DECODER_SCRATCH_BYTES),
    );
    budget
}

/// The allocation budget plus side limits: no side can exceed the pixel
/// budget when the other side is at least 1.
fn decoder_limits(limits: &ImageLimits) -> image::Limits {
    let mut budget = allocation_limits(limits);
    let longest_side = u32::try_from(limits.max_pixels).unwrap_or(u32::MAX);
    budget.max_image_width = Some(longest_side);
    budget.max_image_height = Some(longest_side);
    budget
}

/// Walks a JPEG's segments and scans to its end-of-image marker (EOI).
/// Segment lengths are followed rather than searching for the EOI bytes, so
/// an embedded EXIF thumbnail's own EOI cannot make a truncated file look
/// complete. Data after EOI is allowed (some cameras append their own).
pub(crate) fn jpeg_reaches_end(bytes: &[u8]) -> bool {
    const SOS: u8 = 0xDA;
    const EOI: u8 = 0xD9;
    // Offset of the first byte at or after `from` that matches.
    let find = |from: usize, wanted: fn(u8) -> bool| {
        bytes
            .get(from..)?
            .iter()
            .position(|&b| wanted(b))
            .map(|n| from + n)
    };

    let mut at = 2; // past SOI
    loop {
        // A marker is 0xFF, optional 0xFF fill, then its code. Stray bytes
        // before it are skipped, as decoders do.
        let Some(ff) = find(at, |b| b == 0xFF) else {
            return false;
        };
        let Some(code_at) = find(ff, |b| b != 0xFF) else {
            return false;
        };
        let Some(&marker) = bytes.get(code_at) else {
            return false;
        };
        at = code_at + 1;
        match marker {
            EOI => return true,
            // TEM, RSTn and SOI carry no length.
            0x01 | 0xD0..=0xD8 => continue,
            _ => {}
        }

        let Some(length) = bytes
            .get(at..at + 2)
            .and_then(|len| <[u8; 2]>::try_from(len).ok())
            .map(|len| usize::from(u16::from_be_bytes(len)))
        else {
            return false;
        };
        if length < 2 {
            return false;
        }
        at += length;

        if marker == SOS {
            // Entropy-coded data follows: there, 0xFF 0x00 is an escaped
            // byte and 0xFF 0xD0..=0xD7 a restart; anything else ends it.
            loop {
                let Some(ff) = find(at, |b| b == 0xFF) else {
                    return false;
                };
                match bytes.get(ff + 1) {
                    Some(0x00 | 0xD0..=0xD7) => at = ff + 2,
                    Some(_) => {
                        at = ff;
                        break;
                    }
                    None => return false,
                }
            }
        }
    }
}

/// Reads the EXIF Orientation tag with kamadak-exif, which finds the block in
/// JPEG, PNG and WebP containers. Any failure means "leave as is".
fn exif_orientation(bytes: &[u8]) -> Option<Orientation> {
    let exif = exif::Reader::new()
        // Keep whatever parsed: one broken maker-note field should not cost
        // us the orientation.
        .continue_on_error(true)
        .read_from_container(&mut Cursor::new(bytes))
        .or_else(|err| err.distill_partial_result(|_| {}))
        .ok()?;
    let value = exif
        .get_field(exif::Tag::Orientation, exif::In::PRIMARY)?
        .value
        .get_uint(0)?;
    Orientation::from_exif(u8::try_from(value).ok()?)
}

/// The side of the output square: the requested size, but at least 1, at
/// most what JPEG can hold, and never larger than the source (no upscaling).
fn output_side(requested: u32, source_side: u32) -> u32 {
    requested.clamp(1, MAX_JPEG_SIDE).min(source_side)
}

/// Crops the largest centred square and composites it onto white, so the
/// JPEG (which has no alpha) shows transparent areas as white, not black.
fn centre_square_on_white(img: &DynamicImage) -> RgbImage {
    let side = img.width().min(img.height());
    let left = (img.width() - side) / 2;
    let top = (img.height() - side) / 2;
    let cropped = img.crop_imm(left, top, side, side);

    if !cropped.color().has_alpha() {
        // A move, not a copy, for RGB8 (the usual JPEG case).
        return cropped.into_rgb8();
    }
    let rgba = cropped.into_rgba8();
    let mut flat = RgbImage::new(side, side);
    for (out, px) in flat.pixels_mut().zip(rgba.pixels()) {
        let [r, g, b, a] = px.0;
        *out = Rgb([over_white(r, a), over_white(g, a), over_white(b, a)]);
    }
    flat
}

/// One channel of "colour over white": c·a + 255·(1 − a), in 8-bit fixed point
/// with rounding.
pub(crate) fn over_white(channel: u8, alpha: u8) -> u8 {
    let (c, a) = (u32::from(channel), u32::from(alpha));
    let blended = (c * a + 255 * (255 - a) + 127) / 255;
    // The blend of two values in 0..=255 stays in range.
    u8::try_from(blended).unwrap_or(u8::MAX)
}

/// Shrinks a square RGB image to `side`×`side` with fast_image_resize.
fn resize_square(resizer: &mut fr::Resizer, src: &RgbImage, side: u32) -> RgbImage {
    let options =
        fr::ResizeOptions::new().resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Lanczos3));
    let fast =
        fr::images::ImageRef::new(src.width(), src.height(), src.as_raw(), fr::PixelType::U8x3)
            .ok()
            .and_then(|view| {
                let mut dst = fr::images::Image::new(side, side, fr::PixelType::U8x3);
                resizer.resize(&view, &mut dst, &options).ok()?;
                RgbImage::from_raw(side, side, dst.into_vec())
            });
    // fast_image_resize only fails on mismatched buffers, which RgbImage rules
    // out; should that ever change, the slower resizer still gives a result.
    fast.unwrap_or_else(|| {
        image::imageops::resize(src, side, side, image::imageops::FilterType::Lanczos3)
    })
}

/// "5 MB", "1.5 MB", "512 KB", "300 bytes" (binary units, as upload forms
/// usually mean them).
pub fn describe_bytes(bytes: usize) -> String {
    const KB: f64 = 1024.0;
    const MB: f64 = 1024.0 * 1024.0;
    // Precision loss only matters far beyond any sensible upload limit.
    let value = bytes as f64;
    if value >= MB {
        format!("{} MB", one_decimal(value / MB))
    } else if value >= KB {
        format!("{} KB", one_decimal(value / KB))
    } else {
        format!("{bytes} bytes")
    }
}

/// "40 megapixels", "2.5 megapixels", or plain pixels below one megapixel.
fn describe_pixels(pixels: u64) -> String {
    const MEGA: f64 = 1_000_000.0;
    let value = pixels as f64;
    if value >= MEGA {
        format!("{} megapixels", one_decimal(value / MEGA))
    } else {
        format!("{pixels} pixels")
    }
}

/// One decimal place, dropping a trailing ".0".
fn one_decimal(value: f64) -> String {
    let text = format!("{value:.1}");
    match text.strip_suffix(".0") {
        Some(whole) => whole.to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    use image::{GenericImageView, RgbaImage};

    const RED: [u8; 3] = [255, 0, 0];
    const GREEN: [u8; 3] = [0, 255, 0];
    const BLUE: [u8; 3] = [0, 0, 255];
    const YELLOW: [u8; 3] = [255, 255, 0];

    const ALL_FORMATS: [(ImageFormat, image::ImageFormat); 4] = [
        (ImageFormat::Jpeg, image::ImageFormat::Jpeg),
        (ImageFormat::Png, image::ImageFormat::Png),
        (ImageFormat::Webp, image::ImageFormat::WebP),
        (ImageFormat::Gif, image::ImageFormat::Gif),
    ];

    fn limits() -> ImageLimits {
        ImageLimits {
            max_bytes: 5 * 1024 * 1024,
            max_pixels: 40_000_000,
        }
    }

    /// Four solid quadrants: red top-left, green top-right, blue bottom-left,
    /// yellow bottom-right. Solid blocks survive JPEG and GIF well enough to
    /// check colours at known points.
    fn quadrants(width: u32, height: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_fn(width, height, |x, y| {
            Rgb(match (x < width / 2, y < height / 2) {
                (true, true) => RED,
                (false, true) => GREEN,
                (true, false) => BLUE,
                (false, false) => YELLOW,
            })
        }))
    }

    /// Busy content, so encoded files are mostly pixel data and a cut at
    /// half lands well inside it.
    fn noise(width: u32, height: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_fn(width, height, |x, y| {
            let n = x.wrapping_mul(7) ^ y.wrapping_mul(13);
            Rgb([n as u8, (x * y) as u8, (x + 3 * y) as u8])
        }))
    }

    /// A 3×2 image whose six pixels are all different, to follow exactly
    /// where each one lands after a transform.
    ///   a b c
    ///   d e f
    const LABELS: [[u8; 3]; 6] = [
        [10, 0, 0],
        [0, 20, 0],
        [0, 0, 30],
        [40, 40, 0],
        [0, 50, 50],
        [60, 0, 60],
    ];

    fn labelled() -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_fn(3, 2, |x, y| {
            Rgb(LABELS[(y * 3 + x) as usize])
        }))
    }

    fn encode_as(img: &DynamicImage, format: image::ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, format).expect("test image encodes");
        out.into_inner()
    }

    fn pixel(img: &DynamicImage, x: u32, y: u32) -> [u8; 3] {
        let [r, g, b, _] = img.get_pixel(x, y).0;
        [r, g, b]
    }

    fn roughly(actual: [u8; 3], expected: [u8; 3]) -> bool {
        actual
            .iter()
            .zip(expected)
            .all(|(&a, e)| a.abs_diff(e) <= 40)
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    /// CRC-32 as PNG uses it (reflected, polynomial 0xEDB88320).
    fn crc32(parts: &[&[u8]]) -> u32 {
        let mut crc = !0u32;
        for &byte in parts.iter().flat_map(|part| part.iter()) {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut chunk = Vec::new();
        chunk.extend_from_slice(&(data.len() as u32).to_be_bytes());
        chunk.extend_from_slice(kind);
        chunk.extend_from_slice(data);
        chunk.extend_from_slice(&crc32(&[kind, data]).to_be_bytes());
        chunk
    }

    /// The IHDR chunk always sits right after the 8-byte signature and is
    /// 25 bytes long (length, type, 13 data bytes, CRC).
    const IHDR_END: usize = 8 + 25;

    /// Text planted in the GPS block so the test can look for it in outputs.
    const GPS_MARKER: &[u8] = b"COTERIE-SECRET-GPS-AREA";
    /// GPSLatitude as three rationals 51/1, 30/1, 2649/100, little-endian.
    const GPS_LATITUDE: [u32; 6] = [51, 1, 30, 1, 2649, 100];

    /// A little-endian TIFF block (the payload of an EXIF APP1 segment) with
    /// IFD0 holding Orientation and, optionally, a pointer to a GPS IFD.
    fn exif_tiff(orientation: u16, with_gps: bool) -> Vec<u8> {
        fn entry(out: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: [u8; 4]) {
            out.extend_from_slice(&tag.to_le_bytes());
            out.extend_from_slice(&kind.to_le_bytes());
            out.extend_from_slice(&count.to_le_bytes());
            out.extend_from_slice(&value);
        }
        const SHORT: u16 = 3;
        const LONG: u16 = 4;
        const ASCII: u16 = 2;
        const RATIONAL: u16 = 5;
        const UNDEFINED: u16 = 7;

        let ifd0_entries: u16 = if with_gps { 2 } else { 1 };
        let ifd0_len = 2 + 12 * u32::from(ifd0_entries) + 4;
        let gps_ifd = 8 + ifd0_len;
        let gps_ifd_len = 2 + 12 * 3 + 4;
        let latitude_at = gps_ifd + gps_ifd_len;
        let area_at = latitude_at + 24;

        let mut tiff = b"II*\0".to_vec();
        tiff.extend_from_slice(&8u32.to_le_bytes());

        tiff.extend_from_slice(&ifd0_entries.to_le_bytes());
        let [lo, hi] = orientation.to_le_bytes();
        entry(&mut tiff, 0x0112, SHORT, 1, [lo, hi, 0, 0]);
        if with_gps {
            entry(&mut tiff, 0x8825, LONG, 1, gps_ifd.to_le_bytes());
        }
        tiff.extend_from_slice(&0u32.to_le_bytes());

        if with_gps {
            tiff.extend_from_slice(&3u16.to_le_bytes());
            entry(&mut tiff, 0x0001, ASCII, 2, *b"N\0\0\0");
            entry(&mut tiff, 0x0002, RATIONAL, 3, latitude_at.to_le_bytes());
            let area_len = GPS_MARKER.len() as u32;
            entry(
                &mut tiff,
                0x001C,
                UNDEFINED,
                area_len,
                area_at.to_le_bytes(),
            );
            tiff.extend_from_slice(&0u32.to_le_bytes());
            for part in GPS_LATITUDE {
                tiff.extend_from_slice(&part.to_le_bytes());
            }
            tiff.extend_from_slice(GPS_MARKER);
        }
        tiff
    }

    /// Inserts an EXIF APP1 segment right after SOI, as cameras do.
    fn jpeg_with_exif(jpeg: &[u8], tiff: &[u8]) -> Vec<u8> {
        let mut out = jpeg[..2].to_vec();
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&((2 + 6 + tiff.len()) as u16).to_be_bytes());
        out.extend_from_slice(b"Exif\0\0");
        out.extend_from_slice(tiff);
        out.extend_from_slice(&jpeg[2..]);
        out
    }

    /// Inserts an eXIf chunk between IHDR and the image data.
    fn png_with_exif(png: &[u8], tiff: &[u8]) -> Vec<u8> {
        let mut out = png[..IHDR_END].to_vec();
        out.extend_from_slice(&png_chunk(b"eXIf", tiff));
        out.extend_from_slice(&png[IHDR_END..]);
        out
    }

    /// Rewraps a simple lossless WebP (RIFF, VP8L) as an extended one with a
    /// VP8X header announcing an EXIF chunk, and appends that chunk.
    fn webp_with_exif(webp: &[u8], width: u32, height: u32, tiff: &[u8]) -> Vec<u8> {
        assert_eq!(&webp[12..16], b"VP8L", "expected a simple lossless WebP");
        let mut vp8x = vec![0x08, 0, 0, 0]; // flags: EXIF present
        vp8x.extend_from_slice(&(width - 1).to_le_bytes()[..3]);
        vp8x.extend_from_slice(&(height - 1).to_le_bytes()[..3]);

        let mut body = b"WEBP".to_vec();
        body.extend_from_slice(b"VP8X");
        body.extend_from_slice(&(vp8x.len() as u32).to_le_bytes());
        body.extend_from_slice(&vp8x);
        body.extend_from_slice(&webp[12..]); // the VP8L chunk, already padded
        body.extend_from_slice(b"EXIF");
        body.extend_from_slice(&(tiff.len() as u32).to_le_bytes());
        body.extend_from_slice(tiff);
        if tiff.len() % 2 == 1 {
            body.push(0);
        }

        let mut out = b"RIFF".to_vec();
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// Marker codes of every segment before the scan data.
    fn jpeg_header_markers(jpeg: &[u8]) -> Vec<u8> {
        let mut markers = Vec::new();
        let mut at = 2; // after SOI
        while at + 4 <= jpeg.len() && jpeg[at] == 0xFF {
            let marker = jpeg[at + 1];
            markers.push(marker);
            if marker == 0xDA {
                break;
            }
            let len = u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]) as usize;
            at += 2 + len;
        }
        markers
    }

    fn decoded(jpeg: &[u8]) -> DynamicImage {
        image::load_from_memory_with_format(jpeg, image::ImageFormat::Jpeg)
            .expect("output is a readable JPEG")
    }

    #[test]
    fn sniff_uses_magic_bytes() {
        let img = quadrants(8, 8);
        for (ours, theirs) in ALL_FORMATS {
            assert_eq!(sniff(&encode_as(&img, theirs)), Some(ours), "{ours:?}");
        }
        assert_eq!(sniff(b"GIF87a rest"), Some(ImageFormat::Gif));
        assert_eq!(sniff(b"RIFF\0\0\0\0WAVEfmt "), None, "RIFF but not WebP");
        assert_eq!(sniff(b"RIFF\0\0"), None, "too short for a WebP tag");
        assert_eq!(sniff(b"\x88PNG\r\n\x1a\n"), None);
        assert_eq!(sniff(b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>"), None);
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn every_format_produces_the_requested_sizes() {
        let source = quadrants(64, 48);
        for (ours, theirs) in ALL_FORMATS {
            let upload = encode_as(&source, theirs);
            let decoded_upload = decode(&upload, &limits()).expect("decodes");
            assert_eq!(decoded_upload.dimensions(), (64, 48), "{ours:?}");

            let sizes = [32, 48, 16];
            let out = avatar_sizes(&upload, &limits(), &sizes).expect("avatars");
            let returned: Vec<u32> = out.iter().map(|(size, _)| *size).collect();
            assert_eq!(
                returned, sizes,
                "{ours:?}: results follow the request order"
            );

            for (size, jpeg) in &out {
                assert_eq!(sniff(jpeg), Some(ImageFormat::Jpeg), "{ours:?}");
                let img = decoded(jpeg);
                assert_eq!(img.dimensions(), (*size, *size), "{ours:?} at {size}");
                // The centre crop of the quadrants keeps all four colours.
                let far = size - 3;
                assert!(roughly(pixel(&img, 2, 2), RED), "{ours:?} at {size}");
                assert!(roughly(pixel(&img, far, 2), GREEN), "{ours:?} at {size}");
                assert!(roughly(pixel(&img, 2, far), BLUE), "{ours:?} at {size}");
                assert!(roughly(pixel(&img, far, far), YELLOW), "{ours:?} at {size}");
            }
        }
    }

    #[test]
    fn jpeg_exif_orientation_6_is_applied() {
        let plain = encode_as(&quadrants(40, 20), image::ImageFormat::Jpeg);

        // Control: without EXIF the image stays landscape, red at top-left.
        let upright = decode(&plain, &limits()).expect("decodes");
        assert_eq!(upright.dimensions(), (40, 20));
        assert!(roughly(pixel(&upright, 2, 2), RED));

        // Orientation 6: the camera was turned; rotate 90° clockwise to view.
        let tagged = jpeg_with_exif(&plain, &exif_tiff(6, false));
        let img = decode(&tagged, &limits()).expect("decodes");
        assert_eq!(img.dimensions(), (20, 40));
        assert!(roughly(pixel(&img, 2, 2), BLUE), "top-left was bottom-left");
        assert!(roughly(pixel(&img, 17, 2), RED), "top-right was top-left");
        assert!(
            roughly(pixel(&img, 17, 37), GREEN),
            "bottom-right was top-right"
        );
        assert!(
            roughly(pixel(&img, 2, 37), YELLOW),
            "bottom-left was bottom-right"
        );
    }

    #[test]
    fn all_eight_orientations_are_applied() {
        let [a, b, c, d, e, f] = LABELS;
        // Expected rows after each EXIF orientation, from the TIFF spec.
        let expected: [(u16, Vec<Vec<[u8; 3]>>); 8] = [
            (1, vec![vec![a, b, c], vec![d, e, f]]),
            (2, vec![vec![c, b, a], vec![f, e, d]]),
            (3, vec![vec![f, e, d], vec![c, b, a]]),
            (4, vec![vec![d, e, f], vec![a, b, c]]),
            (5, vec![vec![a, d], vec![b, e], vec![c, f]]),
            (6, vec![vec![d, a], vec![e, b], vec![f, c]]),
            (7, vec![vec![f, c], vec![e, b], vec![d, a]]),
            (8, vec![vec![c, f], vec![b, e], vec![a, d]]),
        ];
        let png = encode_as(&labelled(), image::ImageFormat::Png);
        for (orientation, rows) in expected {
            let upload = png_with_exif(&png, &exif_tiff(orientation, false));
            let img = decode(&upload, &limits()).expect("decodes");
            let actual: Vec<Vec<[u8; 3]>> = (0..img.height())
                .map(|y| (0..img.width()).map(|x| pixel(&img, x, y)).collect())
                .collect();
            assert_eq!(actual, rows, "orientation {orientation}");
        }
    }

    #[test]
    fn webp_exif_orientation_is_applied() {
        let webp = encode_as(&labelled(), image::ImageFormat::WebP);
        let upload = webp_with_exif(&webp, 3, 2, &exif_tiff(8, false));
        let img = decode(&upload, &limits()).expect("decodes");
        let [a, b, c, d, e, f] = LABELS;
        let actual: Vec<[u8; 3]> = img.pixels().map(|(_, _, p)| [p[0], p[1], p[2]]).collect();
        assert_eq!(actual, vec![c, f, b, e, a, d]);
    }

    #[test]
    fn broken_exif_is_ignored() {
        let plain = encode_as(&quadrants(40, 20), image::ImageFormat::Jpeg);
        let mut tiff = exif_tiff(6, true);
        tiff.truncate(12); // IFD0 cut off mid-entry
        let img = decode(&jpeg_with_exif(&plain, &tiff), &limits()).expect("decodes");
        assert_eq!(img.dimensions(), (40, 20));

        let nonsense = jpeg_with_exif(&plain, &exif_tiff(42, false));
        let img = decode(&nonsense, &limits()).expect("decodes");
        assert_eq!(
            img.dimensions(),
            (40, 20),
            "unknown orientation leaves it alone"
        );
    }

    #[test]
    fn output_jpegs_carry_no_metadata() {
        let plain = encode_as(&quadrants(64, 64), image::ImageFormat::Jpeg);
        let upload = jpeg_with_exif(&plain, &exif_tiff(1, true));
        let latitude: Vec<u8> = GPS_LATITUDE.iter().flat_map(|n| n.to_le_bytes()).collect();

        // The upload really carries readable GPS data...
        assert!(contains(&upload, b"Exif\0\0") && contains(&upload, GPS_MARKER));
        let exif = exif::Reader::new()
            .read_from_container(&mut Cursor::new(&upload))
            .expect("test EXIF parses");
        assert!(exif
            .get_field(exif::Tag::GPSLatitude, exif::In::PRIMARY)
            .is_some());

        // ...and none of it reaches the outputs.
        for (size, jpeg) in avatar_sizes(&upload, &limits(), &[64, 32]).expect("avatars") {
            assert!(!contains(&jpeg, b"Exif"), "{size}: EXIF header");
            assert!(!contains(&jpeg, GPS_MARKER), "{size}: GPS text");
            assert!(!contains(&jpeg, &latitude), "{size}: GPS latitude");
            assert!(
                exif::Reader::new()
                    .read_from_container(&mut Cursor::new(&jpeg))
                    .is_err(),
                "{size}: kamadak-exif still finds EXIF"
            );

            let markers = jpeg_header_markers(&jpeg);
            assert_eq!(
                markers.last(),
                Some(&0xDA),
                "{size}: header walk reached SOS"
            );
            assert!(markers.contains(&0xC0), "{size}: baseline SOF0");
            for marker in markers {
                let app_other_than_jfif = (0xE1..=0xEF).contains(&marker);
                let comment = marker == 0xFE;
                let not_baseline =
                    (0xC1..=0xCF).contains(&marker) && ![0xC4, 0xC8, 0xCC].contains(&marker);
                assert!(
                    !app_other_than_jfif && !comment && !not_baseline,
                    "{size}: unexpected marker {marker:#04X}"
                );
            }
        }
    }

    #[test]
    fn text_named_jpg_is_not_an_image() {
        // There is no file name to fool us: only the bytes are looked at.
        let text = b"name,email\nada,ada@example.com\n";
        assert_eq!(decode(text, &limits()).unwrap_err(), ImageError::NotAnImage);
        assert_eq!(
            avatar_sizes(text, &limits(), &[64]).unwrap_err(),
            ImageError::NotAnImage
        );
    }

    #[test]
    fn truncated_jpeg_is_corrupt() {
        let jpeg = encode_as(&noise(128, 128), image::ImageFormat::Jpeg);
        let scan_start = jpeg
            .windows(2)
            .position(|w| w == [0xFF, 0xDA])
            .expect("has a scan");
        let half = &jpeg[..jpeg.len() / 2];
        assert!(half.len() > scan_start + 100, "the cut falls in pixel data");
        assert_eq!(decode(half, &limits()).unwrap_err(), ImageError::Corrupt);
        assert_eq!(
            avatar_sizes(half, &limits(), &[32]).unwrap_err(),
            ImageError::Corrupt
        );
        // Only the end-of-image marker missing still counts as cut off.
        let no_eoi = &jpeg[..jpeg.len() - 2];
        assert_eq!(decode(no_eoi, &limits()).unwrap_err(), ImageError::Corrupt);
    }

    #[test]
    fn complete_jpeg_checks_follow_segments() {
        let jpeg = encode_as(&noise(64, 64), image::ImageFormat::Jpeg);
        // Data appended after the end marker (some cameras do) is fine.
        let mut trailing = jpeg.clone();
        trailing.extend_from_slice(b"\0\0vendor trailer");
        assert!(decode(&trailing, &limits()).is_ok());

        // An EXIF block holding an end marker (as thumbnails do) must not
        // make a truncated file look complete.
        let mut tiff = exif_tiff(1, false);
        tiff.extend_from_slice(&[0xFF, 0xD8, 0xFF, 0xD9]);
        let with_thumb = jpeg_with_exif(&jpeg, &tiff);
        assert!(decode(&with_thumb, &limits()).is_ok());
        let cut = &with_thumb[..with_thumb.len() * 2 / 3];
        assert_eq!(decode(cut, &limits()).unwrap_err(), ImageError::Corrupt);
    }

    #[test]
    fn truncated_uploads_of_other_formats_are_corrupt() {
        let img = noise(128, 128);
        for (ours, theirs) in ALL_FORMATS {
            if ours == ImageFormat::Jpeg {
                continue;
            }
            let bytes = encode_as(&img, theirs);
            for cut in [bytes.len() / 2, bytes.len() * 9 / 10] {
                assert!(cut > 1000, "{ours:?}: the cut falls in pixel data");
                assert_eq!(
                    decode(&bytes[..cut], &limits()).unwrap_err(),
                    ImageError::Corrupt,
                    "{ours:?} cut at {cut} of {}",
                    bytes.len()
                );
            }
        }
    }

    #[test]
    fn damaged_uploads_never_panic() {
        // Cheap deterministic fuzzing: every prefix and many byte flips of a
        // valid file of each format must come back as Ok or Err, not a panic.
        let img = quadrants(24, 16);
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for (_, theirs) in ALL_FORMATS {
            let bytes = encode_as(&img, theirs);
            for len in 0..bytes.len() {
                let _ = avatar_sizes(&bytes[..len], &limits(), &[8]);
            }
            for _ in 0..300 {
                let mut damaged = bytes.clone();
                for _ in 0..1 + next() % 4 {
                    let at = (next() % damaged.len() as u64) as usize;
                    damaged[at] = next() as u8;
                }
                let _ = avatar_sizes(&damaged, &limits(), &[8]);
            }
        }
    }

    #[test]
    fn oversized_file_is_too_large() {
        let png = encode_as(&quadrants(64, 64), image::ImageFormat::Png);
        let tight = ImageLimits {
            max_bytes: png.len() - 1,
            ..limits()
        };
        assert_eq!(
            decode(&png, &tight).unwrap_err(),
            ImageError::TooLarge {
                max_bytes: png.len() - 1
            }
        );
        let exact = ImageLimits {
            max_bytes: png.len(),
            ..limits()
        };
        assert!(decode(&png, &exact).is_ok(), "a file at the limit is fine");
        // Size is checked before content: junk that is too big is TooLarge.
        let junk = vec![0u8; 100];
        let small = ImageLimits {
            max_bytes: 10,
            ..limits()
        };
        assert_eq!(
            decode(&junk, &small).unwrap_err(),
            ImageError::TooLarge { max_bytes: 10 }
        );
    }

    #[test]
    fn png_claiming_huge_dimensions_is_refused_from_its_header() {
        let png = encode_as(&quadrants(16, 16), image::ImageFormat::Png);
        // Patch IHDR to claim 100000×100000 and fix its CRC, so only the
        // dimensions are wrong and the file is otherwise well-formed.
        let mut huge = png.clone();
        huge[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        huge[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        let crc = crc32(&[&huge[12..29]]);
        huge[29..33].copy_from_slice(&crc.to_be_bytes());
        assert!(huge.len() < 40 * 1024);

        let started = Instant::now();
        let err = decode(&huge, &limits()).unwrap_err();
        assert_eq!(
            err,
            ImageError::TooManyPixels {
                width: 100_000,
                height: 100_000,
                max_pixels: 40_000_000
            }
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "refused without decoding"
        );
        assert_eq!(
            err.to_string(),
            "That image is 100000×100000 pixels; the limit is 40 megapixels."
        );
    }

    #[test]
    fn jpeg_and_gif_headers_are_checked_too() {
        // JPEG: patch the SOF0 frame header to claim 60000×60000.
        let mut jpeg = encode_as(&quadrants(16, 16), image::ImageFormat::Jpeg);
        let sof = jpeg
            .windows(2)
            .position(|w| w == [0xFF, 0xC0])
            .expect("baseline frame header");
        jpeg[sof + 5..sof + 7].copy_from_slice(&60_000u16.to_be_bytes());
        jpeg[sof + 7..sof + 9].copy_from_slice(&60_000u16.to_be_bytes());
        assert!(matches!(
            decode(&jpeg, &limits()),
            Err(ImageError::TooManyPixels {
                width: 60_000,
                height: 60_000,
                ..
            })
        ));

        // GIF: the logical screen size sits right after the signature.
        let mut gif = encode_as(&quadrants(16, 16), image::ImageFormat::Gif);
        gif[6..8].copy_from_slice(&65_535u16.to_le_bytes());
        gif[8..10].copy_from_slice(&65_535u16.to_le_bytes());
        assert!(matches!(
            decode(&gif, &limits()),
            Err(ImageError::TooManyPixels {
                width: 65_535,
                height: 65_535,
                ..
            })
        ));

        // An honest image over a small budget is refused the same way.
        let png = encode_as(&quadrants(64, 48), image::ImageFormat::Png);
        let small = ImageLimits {
            max_pixels: 64 * 48 - 1,
            ..limits()
        };
        assert!(matches!(
            decode(&png, &small),
            Err(ImageError::TooManyPixels {
                width: 64,
                height: 48,
                ..
            })
        ));
        let exact = ImageLimits {
            max_pixels: 64 * 48,
            ..limits()
        };
        assert!(
            decode(&png, &exact).is_ok(),
            "an image at the limit is fine"
        );
    }

    #[test]
    fn empty_upload_is_empty() {
        assert_eq!(decode(&[], &limits()).unwrap_err(), ImageError::Empty);
        assert_eq!(
            avatar_sizes(&[], &limits(), &[64]).unwrap_err(),
            ImageError::Empty
        );
    }

    #[test]
    fn small_images_are_not_upscaled() {
        let png = encode_as(&quadrants(16, 16), image::ImageFormat::Png);
        let out = avatar_sizes(&png, &limits(), &[200, 16, 8]).expect("avatars");
        let sides: Vec<(u32, (u32, u32))> = out
            .iter()
            .map(|(size, jpeg)| (*size, decoded(jpeg).dimensions()))
            .collect();
        assert_eq!(sides, vec![(200, (16, 16)), (16, (16, 16)), (8, (8, 8))]);

        let img = decode(&png, &limits()).expect("decodes");
        assert_eq!(square(&img, 200).dimensions(), (16, 16));
        // A non-square source is limited by its shorter side.
        assert_eq!(square(&quadrants(30, 12), 100).dimensions(), (12, 12));
    }

    #[test]
    fn square_crops_the_centre() {
        let stripes = |width: u32, height: u32, across: bool| {
            DynamicImage::ImageRgb8(RgbImage::from_fn(width, height, |x, y| {
                let band = if across { x / 10 } else { y / 10 };
                Rgb([RED, GREEN, BLUE][band as usize])
            }))
        };
        // 30×10 and 10×30 in three bands: only the middle (green) band stays.
        for img in [stripes(30, 10, true), stripes(10, 30, false)] {
            let out = square(&img, 10);
            assert_eq!(out.dimensions(), (10, 10));
            assert!(out.pixels().all(|p| p.0 == GREEN));
        }
    }

    #[test]
    fn square_resizes_to_exact_size() {
        let img = quadrants(300, 200);
        let out = square(&img, 50);
        assert_eq!(out.dimensions(), (50, 50));
        // Lanczos keeps solid areas solid away from the colour edges.
        assert!(roughly(out.get_pixel(5, 5).0, RED));
        assert!(roughly(out.get_pixel(44, 44).0, YELLOW));
        assert_eq!(square(&img, 0).dimensions(), (1, 1), "0 is treated as 1");
    }

    #[test]
    fn transparency_is_flattened_onto_white() {
        let img = DynamicImage::ImageRgba8(RgbaImage::from_fn(8, 8, |x, _| {
            if x < 4 {
                image::Rgba([0, 0, 0, 0]) // fully transparent black
            } else {
                image::Rgba([255, 0, 0, 128]) // half-transparent red
            }
        }));
        let out = square(&img, 8);
        assert_eq!(out.get_pixel(0, 0).0, [255, 255, 255]);
        assert_eq!(out.get_pixel(7, 7).0, [255, 127, 127]);

        // Through the whole pipeline, a transparent PNG becomes white.
        let png = encode_as(&img, image::ImageFormat::Png);
        let out = avatar_sizes(&png, &limits(), &[8]).expect("avatars");
        assert!(roughly(pixel(&decoded(&out[0].1), 0, 0), [255, 255, 255]));
    }

    #[test]
    fn degenerate_inputs_do_not_panic() {
        let empty = DynamicImage::ImageRgb8(RgbImage::new(0, 0));
        assert_eq!(square(&empty, 64).dimensions(), (0, 0));
        assert!(encode_jpeg(&RgbImage::new(0, 0), 85).is_empty());
        let png = encode_as(&quadrants(8, 8), image::ImageFormat::Png);
        assert!(avatar_sizes(&png, &limits(), &[])
            .expect("decodes")
            .is_empty());
        let zero_limits = ImageLimits {
            max_bytes: usize::MAX,
            max_pixels: 0,
        };
        assert!(matches!(
            decode(&png, &zero_limits),
            Err(ImageError::TooManyPixels { .. })
        ));
    }

    #[test]
    fn error_messages_read_as_sentences() {
        let cases = [
            (ImageError::Empty, "That file is empty."),
            (
                ImageError::TooLarge {
                    max_bytes: 5 * 1024 * 1024,
                },
                "That file is larger than 5 MB.",
            ),
            (
                ImageError::TooLarge {
                    max_bytes: 1536 * 1024,
                },
                "That file is larger than 1.5 MB.",
            ),
            (
                ImageError::TooLarge {
                    max_bytes: 512 * 1024,
                },
                "That file is larger than 512 KB.",
            ),
            (
                ImageError::NotAnImage,
                "That file is not a JPEG, PNG, WebP or GIF image.",
            ),
            (
                ImageError::TooManyPixels {
                    width: 20_000,
                    height: 20_000,
                    max_pixels: 40_000_000,
                },
                "That image is 20000×20000 pixels; the limit is 40 megapixels.",
            ),
            (
                ImageError::TooManyPixels {
                    width: 3000,
                    height: 2000,
                    max_pixels: 2_500_000,
                },
                "That image is 3000×2000 pixels; the limit is 2.5 megapixels.",
            ),
            (
                ImageError::Corrupt,
                "That image is damaged or incomplete and could not be read.",
            ),
        ];
        for (error, message) in cases {
            assert_eq!(error.to_string(), message);
        }
    }
}
