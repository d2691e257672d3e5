//! Photo sizes: one upload in, every configured size out, each as a
//! metadata-free JPEG and WebP.
//!
//! The upload is decoded once. A JPEG is decoded at 1/2, 1/4 or 1/8 scale
//! (the IDCT does the shrinking, as libjpeg's scale_num/scale_denom and
//! Pillow's draft mode do) when the largest output still fits, which saves
//! most of the decoding time and memory of a big photo. Sizes are made
//! largest first, each from the smallest image already made that is at
//! least twice its size, so a thumbnail never reads 24 megapixels. Resizing
//! happens in the file's stored orientation and only the finished outputs
//! are turned upright, so the full-size decode is never copied.
//!
//! Like [`super::images`], everything here is synchronous and CPU-bound:
//! call it from `tokio::task::spawn_blocking`, behind the same bounded
//! semaphore as avatars.

use std::os::raw::c_int;

use fast_image_resize as fr;
use image::metadata::Orientation;
use image::{DynamicImage, ImageBuffer, Rgb, RgbImage, RgbaImage};
use serde::{Deserialize, Serialize};

use super::images::{self, ImageError, ImageFormat, ImageLimits};

/// Longest side libwebp can encode.
const MAX_WEBP_SIDE: u32 = 16_383;
/// Longest side JPEG can store.
const MAX_JPEG_SIDE: u32 = 65_535;
/// A size is made from an earlier, smaller output only when that output is
/// at least this many times larger; closer than that, two Lanczos passes
/// would soften it visibly.
const CASCADE_GAP: f64 = 2.0;

/// An encoding that outputs are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Jpeg,
    Webp,
}

impl Format {
    /// The file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Jpeg => "jpg",
            Format::Webp => "webp",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Webp => "image/webp",
        }
    }
}

/// One configured photo size, as photologue had them (`[[photos.sizes]]`
/// in the TOML configuration).
///
/// `width` or `height` 0 means "any". With `crop`, and both set, the image
/// is centre-cropped to exactly that box; otherwise it is fitted inside it,
/// keeping its aspect ratio. Without `upscale`, an output is never larger
/// than the upload: a crop then keeps the box's shape at the largest size
/// the upload allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhotoSize {
    pub name: String,
    #[serde(default)]
    pub width: u32,
    #[serde(default)]
    pub height: u32,
    #[serde(default)]
    pub crop: bool,
    #[serde(default)]
    pub upscale: bool,
    /// JPEG quality, 1–100.
    #[serde(default = "default_jpeg_quality")]
    pub quality: u8,
    /// WebP quality, 0–100. Separate from `quality` because the two scales
    /// differ: WebP 80 looks like JPEG 85 at a smaller file.
    #[serde(default = "default_webp_quality")]
    pub webp_quality: u8,
    #[serde(default = "default_formats")]
    pub formats: Vec<Format>,
}

fn default_jpeg_quality() -> u8 {
    85
}

fn default_webp_quality() -> u8 {
    80
}

fn default_formats() -> Vec<Format> {
    vec![Format::Jpeg, Format::Webp]
}

impl PhotoSize {
    /// A size fitted inside `width`×`height` (0 = any), never upscaled,
    /// in JPEG and WebP at the default qualities.
    pub fn fit(name: &str, width: u32, height: u32) -> PhotoSize {
        PhotoSize {
            name: name.to_owned(),
            width,
            height,
            crop: false,
            upscale: false,
            quality: default_jpeg_quality(),
            webp_quality: default_webp_quality(),
            formats: default_formats(),
        }
    }

    /// A centre crop to exactly `width`×`height`, never upscaled.
    pub fn crop(name: &str, width: u32, height: u32) -> PhotoSize {
        PhotoSize {
            crop: true,
            ..PhotoSize::fit(name, width, height)
        }
    }

    /// photologue's usual three: a 150×150 thumbnail, a 640-pixel-wide
    /// display size and a 1600-pixel-wide large size.
    pub fn defaults() -> Vec<PhotoSize> {
        vec![
            PhotoSize::crop("thumb", 150, 150),
            PhotoSize::fit("display", 640, 0),
            PhotoSize::fit("large", 1600, 0),
        ]
    }

    /// The size of this output for an upright image of `width`×`height`.
    pub fn output_dimensions(&self, width: u32, height: u32) -> (u32, u32) {
        let plan = Plan::new(self, width, height);
        (plan.width, plan.height)
    }
}

/// One encoded file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The [`PhotoSize::name`] it was made for.
    pub size: String,
    pub format: Format,
    pub width: u32,
    pub height: u32,
    pub bytes: Vec<u8>,
}

/// Everything made from one upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The upload's size once upright (EXIF orientation applied).
    pub width: u32,
    pub height: u32,
    /// In the order of the sizes asked for, and of each size's formats.
    pub outputs: Vec<Output>,
}

/// Makes every size of `sizes` from one upload.
///
/// The upload is checked as [`images::decode`] checks it (bytes, type,
/// header dimensions before any pixel buffer, complete JPEG), its EXIF
/// orientation is applied, and nothing of its metadata reaches the outputs.
/// JPEGs are quality `quality`, Huffman-optimised, with transparency
/// flattened onto white; WebPs are lossy at `webp_quality` and keep
/// transparency.
pub fn render(
    bytes: &[u8],
    limits: &ImageLimits,
    sizes: &[PhotoSize],
) -> Result<Rendered, ImageError> {
    let (stored, orientation, full_width, full_height) = decode(bytes, limits, sizes)?;
    let transposed = swaps_sides(orientation);
    let (width, height) = if transposed {
        (full_height, full_width)
    } else {
        (full_width, full_height)
    };

    let plans: Vec<Plan> = sizes.iter().map(|s| Plan::new(s, width, height)).collect();
    let mut images = make_sizes(stored, &plans, sizes, transposed, (full_width, full_height))?;

    let mut outputs = Vec::new();
    for (index, size) in sizes.iter().enumerate() {
        let Some(image) = images[index].take() else {
            continue;
        };
        // Small now, so turning it upright is cheap.
        let image = orient(image, orientation);
        let (out_width, out_height) = (image.width(), image.height());
        let mut seen = Vec::with_capacity(size.formats.len());
        for &format in &size.formats {
            if seen.contains(&format) {
                continue;
            }
            seen.push(format);
            let bytes = match format {
                Format::Jpeg => encode_jpeg(&image, size.quality),
                Format::Webp => encode_webp(&image, size.webp_quality),
            }
            .ok_or(ImageError::Corrupt)?;
            outputs.push(Output {
                size: size.name.clone(),
                format,
                width: out_width,
                height: out_height,
                bytes,
            });
        }
    }
    Ok(Rendered {
        width,
        height,
        outputs,
    })
}

/// What one size needs, in upright coordinates: the centred region of the
/// source it shows and the output's size.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Plan {
    /// The centred source region, in source pixels (fractional for crops).
    region_width: f64,
    region_height: f64,
    /// The output, in pixels.
    width: u32,
    height: u32,
}

impl Plan {
    fn new(size: &PhotoSize, width: u32, height: u32) -> Plan {
        let max_side = if size.formats.contains(&Format::Webp) {
            MAX_WEBP_SIDE
        } else {
            MAX_JPEG_SIDE
        };
        let (w, h) = (f64::from(width.max(1)), f64::from(height.max(1)));
        let (region_width, region_height, mut scale) =
            if size.crop && size.width > 0 && size.height > 0 {
                // The largest centred region with the box's shape.
                let (bw, bh) = (f64::from(size.width), f64::from(size.height));
                let (rw, rh) = if w * bh > h * bw {
                    (h * bw / bh, h)
                } else {
                    (w, w * bh / bw)
                };
                (rw, rh, bw / rw)
            } else {
                let mut scale = f64::INFINITY;
                if size.width > 0 {
                    scale = scale.min(f64::from(size.width) / w);
                }
                if size.height > 0 {
                    scale = scale.min(f64::from(size.height) / h);
                }
                (w, h, if scale.is_finite() { scale } else { 1.0 })
            };
        if !size.upscale {
            scale = scale.min(1.0);
        }
        let longest = region_width.max(region_height);
        scale = scale.min(f64::from(max_side) / longest);

        // Round to whole pixels; a side asked for exactly is kept exactly.
        let side = |asked: u32, region: f64| -> u32 {
            let exact = region * scale;
            let px = if asked > 0 && (exact - f64::from(asked)).abs() < 0.5 {
                asked
            } else {
                exact.round() as u32
            };
            px.clamp(1, max_side)
        };
        Plan {
            region_width,
            region_height,
            width: side(size.width, region_width),
            height: side(size.height, region_height),
        }
    }

    /// How much this output shrinks the source (≤ 1 unless upscaling).
    fn scale(&self) -> f64 {
        (f64::from(self.width) / self.region_width).max(f64::from(self.height) / self.region_height)
    }

    /// Does it show the whole frame (so later sizes can be made from it)?
    fn is_whole(&self, width: u32, height: u32) -> bool {
        (self.region_width - f64::from(width)).abs() < 1e-6
            && (self.region_height - f64::from(height)).abs() < 1e-6
    }
}

/// Does this orientation swap width and height?
fn swaps_sides(orientation: Orientation) -> bool {
    matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    )
}

/// Decodes the upload in its stored orientation, as RGB8 or RGBA8, as small
/// as the largest size allows. Also returns the orientation and the full
/// stored dimensions (before any DCT scaling).
fn decode(
    bytes: &[u8],
    limits: &ImageLimits,
    sizes: &[PhotoSize],
) -> Result<(DynamicImage, Orientation, u32, u32), ImageError> {
    let format = images::check_upload(bytes, limits)?;
    if format == ImageFormat::Jpeg {
        if let Some(decoded) = decode_jpeg_scaled(bytes, limits, sizes)? {
            return Ok(decoded);
        }
    }
    let (image, format) = images::decode_as_stored(bytes, limits)?;
    let orientation = images::orientation(bytes, format).unwrap_or(Orientation::NoTransforms);
    let (width, height) = (image.width(), image.height());
    Ok((normalise(image), orientation, width, height))
}

/// Decodes a JPEG with a scaled IDCT when every size allows it. `Ok(None)`
/// means "decode it the ordinary way": no reduction possible, or a colour
/// model this decoder does not handle (CMYK), or it failed where the
/// ordinary decoder may not.
fn decode_jpeg_scaled(
    bytes: &[u8],
    limits: &ImageLimits,
    sizes: &[PhotoSize],
) -> Result<Option<(DynamicImage, Orientation, u32, u32)>, ImageError> {
    let mut decoder = jpeg_decoder::Decoder::new(bytes);
    if decoder.read_info().is_err() {
        return Ok(None);
    }
    let Some(info) = decoder.info() else {
        return Ok(None);
    };
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    images::check_dimensions(width, height, limits)?;
    if !images::jpeg_reaches_end(bytes) {
        return Err(ImageError::Corrupt);
    }
    let channels = match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 => 3,
        jpeg_decoder::PixelFormat::L8 => 1,
        _ => return Ok(None),
    };

    let orientation =
        images::orientation(bytes, ImageFormat::Jpeg).unwrap_or(Orientation::NoTransforms);
    let (upright_width, upright_height) = if swaps_sides(orientation) {
        (height, width)
    } else {
        (width, height)
    };
    // The largest reduction any size needs; sizes that want nothing
    // (no formats) do not count.
    let needed = sizes
        .iter()
        .filter(|size| !size.formats.is_empty())
        .map(|size| Plan::new(size, upright_width, upright_height).scale())
        .fold(0.0_f64, f64::max);
    // libjpeg-style scaling: output = ceil(side × 1/d). Take the largest d
    // that still leaves every needed pixel. Not 1/8: there the decoder keeps
    // only each block's average, a box filter that turns fine texture
    // (fabric, say) into visible aliasing that no later filter removes.
    let scaled = |side: u32, d: u32| side.div_ceil(d);
    let Some(d) = [4, 2].into_iter().find(|&d| {
        f64::from(scaled(width, d)) >= f64::from(width) * needed
            && f64::from(scaled(height, d)) >= f64::from(height) * needed
    }) else {
        return Ok(None);
    };

    let budget = images::allocation_limits(limits)
        .max_alloc
        .unwrap_or(u64::MAX);
    decoder.set_max_decoding_buffer_size(usize::try_from(budget).unwrap_or(usize::MAX));
    let (Ok(w), Ok(h)) = (
        u16::try_from(scaled(width, d)),
        u16::try_from(scaled(height, d)),
    ) else {
        return Ok(None);
    };
    let Ok((out_w, out_h)) = decoder.scale(w, h) else {
        return Ok(None);
    };
    let Ok(pixels) = decoder.decode() else {
        return Ok(None);
    };
    let (out_w, out_h) = (u32::from(out_w), u32::from(out_h));
    let image = if channels == 3 {
        RgbImage::from_raw(out_w, out_h, pixels)
    } else {
        // Grey: spread to RGB, which both encoders take.
        let mut rgb = Vec::with_capacity(pixels.len() * 3);
        for &v in &pixels {
            rgb.extend_from_slice(&[v, v, v]);
        }
        RgbImage::from_raw(out_w, out_h, rgb)
    };
    Ok(image.map(|img| (DynamicImage::ImageRgb8(img), orientation, width, height)))
}

/// RGB8 or RGBA8, whatever came in; an alpha channel that is opaque
/// everywhere is dropped, since it would only cost WebP bytes.
fn normalise(image: DynamicImage) -> DynamicImage {
    match image {
        DynamicImage::ImageRgb8(_) => image,
        DynamicImage::ImageRgba8(rgba) => without_opaque_alpha(rgba),
        other if other.color().has_alpha() => without_opaque_alpha(other.into_rgba8()),
        other => DynamicImage::ImageRgb8(other.into_rgb8()),
    }
}

fn without_opaque_alpha(rgba: RgbaImage) -> DynamicImage {
    if rgba.pixels().all(|p| p.0[3] == u8::MAX) {
        DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(rgba).into_rgb8())
    } else {
        DynamicImage::ImageRgba8(rgba)
    }
}

/// Resizes every size (in stored orientation), largest first, each from the
/// smallest earlier whole-frame output that is at least [`CASCADE_GAP`]
/// times its size, or else from the decode. The decode is freed as soon as
/// nothing later needs it; the outputs are kept for encoding. Returns one
/// image per size (`None` for a size with no formats).
fn make_sizes(
    decoded: DynamicImage,
    plans: &[Plan],
    sizes: &[PhotoSize],
    transposed: bool,
    (full_width, full_height): (u32, u32),
) -> Result<Vec<Option<DynamicImage>>, ImageError> {
    // Plans are upright; resizing happens in stored orientation, where
    // width and height trade places for a quarter turn. Regions are centred,
    // so flips do not move them.
    let stored = |plan: &Plan| -> Plan {
        if transposed {
            Plan {
                region_width: plan.region_height,
                region_height: plan.region_width,
                width: plan.height,
                height: plan.width,
            }
        } else {
            *plan
        }
    };
    let plans: Vec<Plan> = plans.iter().map(stored).collect();

    let mut order: Vec<usize> = (0..plans.len())
        .filter(|&i| !sizes[i].formats.is_empty())
        .collect();
    order.sort_by_key(|&i| {
        std::cmp::Reverse(u64::from(plans[i].width) * u64::from(plans[i].height))
    });

    // Decide every size's source first, so the decode can be freed after
    // its last use. `None` is the decode itself.
    let mut sources: Vec<Option<usize>> = vec![None; plans.len()];
    for (pos, &i) in order.iter().enumerate() {
        let fits = |j: usize| {
            let source = &plans[j];
            source.is_whole(full_width, full_height)
                && f64::from(source.width) * plans[i].region_width / f64::from(full_width)
                    >= CASCADE_GAP * f64::from(plans[i].width)
                && f64::from(source.height) * plans[i].region_height / f64::from(full_height)
                    >= CASCADE_GAP * f64::from(plans[i].height)
        };
        sources[i] = order[..pos]
            .iter()
            .copied()
            .filter(|&j| fits(j))
            .min_by_key(|&j| u64::from(plans[j].width) * u64::from(plans[j].height));
    }
    let last_decode_use = order
        .iter()
        .rposition(|&i| sources[i].is_none())
        .unwrap_or(0);

    let mut made: Vec<Option<DynamicImage>> = vec![None; plans.len()];
    let mut decoded = Some(decoded);
    let mut resizer = fr::Resizer::new();
    for (pos, &i) in order.iter().enumerate() {
        let source = match sources[i] {
            None => decoded.as_ref(),
            Some(j) => made[j].as_ref(),
        }
        .ok_or(ImageError::Corrupt)?;
        // The region, in the source's own pixels (it may be a DCT-scaled
        // decode or a smaller output).
        let region_width =
            plans[i].region_width * f64::from(source.width()) / f64::from(full_width);
        let region_height =
            plans[i].region_height * f64::from(source.height()) / f64::from(full_height);
        let image = resize(
            &mut resizer,
            source,
            region_width,
            region_height,
            plans[i].width,
            plans[i].height,
        )?;
        made[i] = Some(image);

        // The outputs are kept for encoding anyway; the decode, the biggest
        // buffer by far, goes as soon as no later size reads it.
        if pos >= last_decode_use {
            decoded = None;
        }
    }
    drop(decoded);
    Ok(made)
}

/// Turns a stored image upright. Flips and the half turn are done in place
/// by the image crate; the quarter turns go through [`transpose`], which
/// walks tiles instead of whole columns.
fn orient(image: DynamicImage, orientation: Orientation) -> DynamicImage {
    // For the quarter turns, output pixel (x, y) is input pixel (y, x) with
    // the input's columns and/or rows counted from the other end.
    let (reverse_columns, reverse_rows) = match orientation {
        Orientation::Rotate90 => (false, true),
        Orientation::Rotate270 => (true, false),
        Orientation::Rotate90FlipH => (false, false),
        Orientation::Rotate270FlipH => (true, true),
        _ => {
            let mut image = image;
            image.apply_orientation(orientation);
            return image;
        }
    };
    let (width, height) = (image.width(), image.height());
    match image {
        DynamicImage::ImageRgb8(rgb) => {
            let pixels = transpose::<3>(rgb.as_raw(), width, height, reverse_columns, reverse_rows);
            RgbImage::from_raw(height, width, pixels).map(DynamicImage::ImageRgb8)
        }
        DynamicImage::ImageRgba8(rgba) => {
            let pixels =
                transpose::<4>(rgba.as_raw(), width, height, reverse_columns, reverse_rows);
            RgbaImage::from_raw(height, width, pixels).map(DynamicImage::ImageRgba8)
        }
        other => {
            let mut other = other;
            other.apply_orientation(orientation);
            Some(other)
        }
    }
    // The buffers above are sized by construction.
    .unwrap_or_else(|| DynamicImage::ImageRgb8(RgbImage::new(0, 0)))
}

/// Transposes a `width`×`height` image of `N`-byte pixels into a
/// `height`×`width` one: output (x, y) takes input (y, x), where input
/// columns count from the right when `reverse_columns` and input rows from
/// the bottom when `reverse_rows`. Done in 32×32 tiles so that both images
/// are read and written a cache line at a time.
fn transpose<const N: usize>(
    src: &[u8],
    width: u32,
    height: u32,
    reverse_columns: bool,
    reverse_rows: bool,
) -> Vec<u8> {
    const TILE: usize = 32;
    let (w, h) = (width as usize, height as usize);
    let mut dst = vec![0u8; w * h * N];
    if src.len() < w * h * N {
        return dst;
    }
    // Output is `h` wide and `w` tall.
    for out_y0 in (0..w).step_by(TILE) {
        for out_x0 in (0..h).step_by(TILE) {
            for out_y in out_y0..(out_y0 + TILE).min(w) {
                let in_x = if reverse_columns {
                    w - 1 - out_y
                } else {
                    out_y
                };
                let row = &mut dst[out_y * h * N..(out_y + 1) * h * N];
                for out_x in out_x0..(out_x0 + TILE).min(h) {
                    let in_y = if reverse_rows { h - 1 - out_x } else { out_x };
                    let at = (in_y * w + in_x) * N;
                    row[out_x * N..out_x * N + N].copy_from_slice(&src[at..at + N]);
                }
            }
        }
    }
    dst
}

/// Cuts the centred `region_width`×`region_height` out of `src` and scales
/// it to `width`×`height` with Lanczos3 (alpha premultiplied, so transparent
/// pixels do not bleed their colour).
fn resize(
    resizer: &mut fr::Resizer,
    src: &DynamicImage,
    region_width: f64,
    region_height: f64,
    width: u32,
    height: u32,
) -> Result<DynamicImage, ImageError> {
    let whole = (region_width - f64::from(src.width())).abs() < 1e-6
        && (region_height - f64::from(src.height())).abs() < 1e-6;
    if whole && src.width() == width && src.height() == height {
        return Ok(src.clone());
    }
    let pixel_type = match src {
        DynamicImage::ImageRgba8(_) => fr::PixelType::U8x4,
        _ => fr::PixelType::U8x3,
    };
    let view = fr::images::ImageRef::new(src.width(), src.height(), src.as_bytes(), pixel_type)
        .map_err(|_| ImageError::Corrupt)?;
    let left = (f64::from(src.width()) - region_width) / 2.0;
    let top = (f64::from(src.height()) - region_height) / 2.0;
    let options = fr::ResizeOptions::new()
        .resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Lanczos3))
        .crop(left, top, region_width, region_height);
    let mut dst = fr::images::Image::new(width, height, pixel_type);
    resizer
        .resize(&view, &mut dst, &options)
        .map_err(|_| ImageError::Corrupt)?;
    let pixels = dst.into_vec();
    let image = match pixel_type {
        fr::PixelType::U8x4 => {
            RgbaImage::from_raw(width, height, pixels).map(DynamicImage::ImageRgba8)
        }
        _ => RgbImage::from_raw(width, height, pixels).map(DynamicImage::ImageRgb8),
    };
    image.ok_or(ImageError::Corrupt)
}

/// A baseline JPEG as libjpeg-turbo writes it (4:2:0, Annex K tables
/// scaled to `quality`, one interleaved scan) with optimised Huffman tables,
/// and no metadata: only the JFIF header. Transparency is flattened onto
/// white first.
///
/// mozjpeg is used in its libjpeg-turbo-compatible mode, not for its own
/// tricks (trellis quantisation, progressive scans), which cost several
/// times the time. The pure-Rust encoders were passed over: `jpeg-encoder`
/// writes one scan per component when optimising, which the `image` crate's
/// own decoder (zune-jpeg 0.5.15) turns into garbage, and the `image`
/// crate's encoder cannot optimise.
fn encode_jpeg(image: &DynamicImage, quality: u8) -> Option<Vec<u8>> {
    let flat;
    let rgb: &RgbImage = match image {
        DynamicImage::ImageRgb8(rgb) => rgb,
        DynamicImage::ImageRgba8(rgba) => {
            flat = ImageBuffer::from_fn(rgba.width(), rgba.height(), |x, y| {
                let [r, g, b, a] = rgba.get_pixel(x, y).0;
                Rgb([
                    images::over_white(r, a),
                    images::over_white(g, a),
                    images::over_white(b, a),
                ])
            });
            &flat
        }
        _ => return None,
    };
    let (width, height) = (rgb.width() as usize, rgb.height() as usize);
    if width == 0
        || height == 0
        || width > MAX_JPEG_SIDE as usize
        || height > MAX_JPEG_SIDE as usize
    {
        return None;
    }
    // libjpeg reports errors by unwinding out of its error handler; none is
    // expected for a well-formed buffer, but one must not take the worker
    // thread down with it.
    std::panic::catch_unwind(|| {
        let mut jpeg = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
        jpeg.set_fastest_defaults();
        jpeg.set_size(width, height);
        jpeg.set_quality(f32::from(quality.clamp(1, 100)));
        jpeg.set_optimize_coding(true);
        let mut started = jpeg.start_compress(Vec::new()).ok()?;
        started.write_scanlines(rgb.as_raw()).ok()?;
        started.finish().ok()
    })
    .ok()
    .flatten()
}

/// A lossy WebP at `quality`, with libwebp's default settings (method 4,
/// as Pillow and libvips use) except one: the alpha plane is not
/// pre-filtered. libwebp's lossless coder predicts from neighbours anyway,
/// and its "fast" filter choice (the default) encodes the plane twice, once
/// filtered and once not, usually to keep the unfiltered one; that second
/// pass is most of the cost of a transparent image.
///
/// The picture is handed over as pixels only, so the file holds the
/// bitstream (VP8, plus VP8X and ALPH for transparency) and never EXIF, XMP
/// or ICC chunks.
fn encode_webp(image: &DynamicImage, quality: u8) -> Option<Vec<u8>> {
    use libwebp_sys as webp;

    let (bytes_per_pixel, has_alpha) = match image {
        DynamicImage::ImageRgb8(_) => (3, false),
        DynamicImage::ImageRgba8(_) => (4, true),
        _ => return None,
    };
    let pixels = image.as_bytes();
    let width = c_int::try_from(image.width()).ok()?;
    let height = c_int::try_from(image.height()).ok()?;
    let stride = c_int::try_from(image.width().checked_mul(bytes_per_pixel)?).ok()?;
    if width == 0 || height == 0 || pixels.len() < (stride as usize) * (height as usize) {
        return None;
    }
    let abi = webp::WEBP_ENCODER_ABI_VERSION as c_int;

    // SAFETY: config, picture and writer are plain C structs that the Init
    // functions fill in before use; `pixels` holds `height` rows of `stride`
    // bytes in the layout the import expects (checked above) and is only
    // read. The picture and the writer own libwebp allocations, released by
    // WebPPictureFree and WebPMemoryWriterClear on every path after Init.
    unsafe {
        let mut config: webp::WebPConfig = std::mem::zeroed();
        if webp::WebPConfigInitInternal(
            &mut config,
            webp::WebPPreset::WEBP_PRESET_DEFAULT,
            f32::from(quality.min(100)),
            abi,
        ) == 0
        {
            return None;
        }
        config.alpha_filtering = 0;
        if webp::WebPValidateConfig(&config) == 0 {
            return None;
        }

        let mut picture: webp::WebPPicture = std::mem::zeroed();
        if webp::WebPPictureInitInternal(&mut picture, abi) == 0 {
            return None;
        }
        picture.width = width;
        picture.height = height;
        let mut writer: webp::WebPMemoryWriter = std::mem::zeroed();
        webp::WebPMemoryWriterInit(&mut writer);

        let imported = if has_alpha {
            webp::WebPPictureImportRGBA(&mut picture, pixels.as_ptr(), stride)
        } else {
            webp::WebPPictureImportRGB(&mut picture, pixels.as_ptr(), stride)
        };
        picture.writer = Some(webp::WebPMemoryWrite);
        picture.custom_ptr = std::ptr::addr_of_mut!(writer).cast();
        let encoded = imported != 0 && webp::WebPEncode(&config, &mut picture) != 0;
        let result = (encoded && !writer.mem.is_null() && writer.size > 0)
            .then(|| std::slice::from_raw_parts(writer.mem, writer.size).to_vec());
        webp::WebPPictureFree(&mut picture);
        webp::WebPMemoryWriterClear(&mut writer);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    use image::{GenericImageView, Rgba};

    const RED: [u8; 3] = [255, 0, 0];
    const GREEN: [u8; 3] = [0, 255, 0];
    const BLUE: [u8; 3] = [0, 0, 255];
    const YELLOW: [u8; 3] = [255, 255, 0];

    fn limits() -> ImageLimits {
        ImageLimits {
            max_bytes: 20 * 1024 * 1024,
            max_pixels: 40_000_000,
        }
    }

    /// Smooth colour fields with some mid-frequency texture: close enough to
    /// a photo for resampling and JPEG to behave as they do on real ones.
    fn photo(width: u32, height: u32) -> RgbImage {
        RgbImage::from_fn(width, height, |x, y| {
            let (fx, fy) = (x as f32, y as f32);
            let texture = ((fx / 9.0).sin() * (fy / 13.0).cos() * 24.0) as i32;
            let r = (x * 200 / width) as i32 + 30 + texture;
            let g = (y * 200 / height) as i32 + 30 - texture;
            let b = (((x + y) / 8) % 120) as i32 + 60 + texture / 2;
            Rgb([r, g, b].map(|v| v.clamp(0, 255) as u8))
        })
    }

    /// Red top-left, green top-right, blue bottom-left, yellow bottom-right.
    fn quadrants(width: u32, height: u32) -> RgbImage {
        RgbImage::from_fn(width, height, |x, y| {
            Rgb(match (x < width / 2, y < height / 2) {
                (true, true) => RED,
                (false, true) => GREEN,
                (true, false) => BLUE,
                (false, false) => YELLOW,
            })
        })
    }

    fn jpeg(image: &DynamicImage, quality: u8) -> Vec<u8> {
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
            .encode_image(image)
            .expect("test JPEG encodes");
        out
    }

    fn png(image: &DynamicImage) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        image
            .write_to(&mut out, image::ImageFormat::Png)
            .expect("test PNG encodes");
        out.into_inner()
    }

    /// A JPEG segment: marker, big-endian length (counting itself), payload.
    fn segment(marker: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0xFF, marker];
        out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    /// Text planted in the metadata, to look for in the outputs.
    const SECRET: &[u8] = b"COTERIE-SECRET-GPS-52.5N";

    /// A big-endian TIFF block: IFD0 with Orientation, Make (the secret)
    /// and a GPS IFD holding the secret again as GPSAreaInformation.
    fn exif_tiff(orientation: u16) -> Vec<u8> {
        fn entry(out: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: [u8; 4]) {
            out.extend_from_slice(&tag.to_be_bytes());
            out.extend_from_slice(&kind.to_be_bytes());
            out.extend_from_slice(&count.to_be_bytes());
            out.extend_from_slice(&value);
        }
        let len = SECRET.len() as u32;
        let ifd0 = 8u32;
        let ifd0_len = 2 + 3 * 12 + 4;
        let gps = ifd0 + ifd0_len;
        let gps_len = 2 + 12 + 4;
        let make_at = gps + gps_len;
        let area_at = make_at + len;

        let mut tiff = b"MM\0*".to_vec();
        tiff.extend_from_slice(&ifd0.to_be_bytes());
        tiff.extend_from_slice(&3u16.to_be_bytes());
        entry(&mut tiff, 0x010F, 2, len, make_at.to_be_bytes()); // Make
        let [hi, lo] = orientation.to_be_bytes();
        entry(&mut tiff, 0x0112, 3, 1, [hi, lo, 0, 0]); // Orientation
        entry(&mut tiff, 0x8825, 4, 1, gps.to_be_bytes()); // GPS IFD
        tiff.extend_from_slice(&0u32.to_be_bytes());
        tiff.extend_from_slice(&1u16.to_be_bytes());
        entry(&mut tiff, 0x001C, 7, len, area_at.to_be_bytes()); // GPSAreaInformation
        tiff.extend_from_slice(&0u32.to_be_bytes());
        tiff.extend_from_slice(SECRET);
        tiff.extend_from_slice(SECRET);
        tiff
    }

    /// A camera-like JPEG: EXIF (orientation, make, GPS), an XMP packet, an
    /// ICC profile segment and a comment, all carrying the secret.
    fn jpeg_with_metadata(jpeg: &[u8], orientation: u16) -> Vec<u8> {
        let mut out = jpeg[..2].to_vec();
        let mut exif = b"Exif\0\0".to_vec();
        exif.extend_from_slice(&exif_tiff(orientation));
        out.extend_from_slice(&segment(0xE1, &exif));
        let mut xmp = b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>".to_vec();
        xmp.extend_from_slice(SECRET);
        xmp.extend_from_slice(b"</x:xmpmeta>");
        out.extend_from_slice(&segment(0xE1, &xmp));
        let mut icc = b"ICC_PROFILE\0\x01\x01".to_vec();
        icc.extend_from_slice(SECRET);
        out.extend_from_slice(&segment(0xE2, &icc));
        out.extend_from_slice(&segment(0xFE, SECRET));
        out.extend_from_slice(&jpeg[2..]);
        out
    }

    fn decode_output(output: &Output) -> DynamicImage {
        let format = match output.format {
            Format::Jpeg => image::ImageFormat::Jpeg,
            Format::Webp => image::ImageFormat::WebP,
        };
        image::load_from_memory_with_format(&output.bytes, format).expect("output decodes")
    }

    fn output<'a>(rendered: &'a Rendered, size: &str, format: Format) -> &'a Output {
        rendered
            .outputs
            .iter()
            .find(|o| o.size == size && o.format == format)
            .unwrap_or_else(|| panic!("no {size} {format:?}"))
    }

    fn rgb_at(image: &DynamicImage, x: u32, y: u32) -> [u8; 3] {
        let [r, g, b, _] = image.get_pixel(x, y).0;
        [r, g, b]
    }

    fn near(actual: [u8; 3], expected: [u8; 3], tolerance: u8) -> bool {
        actual
            .iter()
            .zip(expected)
            .all(|(&a, e)| a.abs_diff(e) <= tolerance)
    }

    /// Peak signal-to-noise ratio over RGB, in dB.
    fn psnr(a: &RgbImage, b: &RgbImage) -> f64 {
        assert_eq!(a.dimensions(), b.dimensions(), "PSNR needs equal sizes");
        let sum: f64 = a
            .as_raw()
            .iter()
            .zip(b.as_raw())
            .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
            .sum();
        let mse = sum / a.as_raw().len() as f64;
        if mse == 0.0 {
            99.0
        } else {
            10.0 * (255.0 * 255.0 / mse).log10()
        }
    }

    /// Lanczos3 from a full decode: the reference the scaled paths are held to.
    fn reference(full: &RgbImage, width: u32, height: u32) -> RgbImage {
        let src = DynamicImage::ImageRgb8(full.clone());
        let (w, h) = (f64::from(full.width()), f64::from(full.height()));
        match resize(&mut fr::Resizer::new(), &src, w, h, width, height).unwrap() {
            DynamicImage::ImageRgb8(rgb) => rgb,
            other => panic!("unexpected {:?}", other.color()),
        }
    }

    #[test]
    fn planned_sizes_follow_crop_fit_and_upscale_rules() {
        let thumb = PhotoSize::crop("thumb", 150, 150);
        let display = PhotoSize::fit("display", 640, 0);
        let large = PhotoSize::fit("large", 1600, 0);
        // Landscape, portrait, and smaller than every size.
        assert_eq!(thumb.output_dimensions(4000, 3000), (150, 150));
        assert_eq!(display.output_dimensions(4000, 3000), (640, 480));
        assert_eq!(large.output_dimensions(4000, 3000), (1600, 1200));
        assert_eq!(display.output_dimensions(3000, 4000), (640, 853));
        assert_eq!(large.output_dimensions(3000, 4000), (1600, 2133));
        assert_eq!(
            large.output_dimensions(1200, 1200),
            (1200, 1200),
            "never upscaled"
        );
        assert_eq!(
            thumb.output_dimensions(100, 80),
            (80, 80),
            "crop keeps its shape"
        );
        assert_eq!(display.output_dimensions(100, 80), (100, 80));

        // A box: fit inside it; crop to it.
        let boxed = PhotoSize::fit("box", 800, 600);
        assert_eq!(boxed.output_dimensions(3000, 4000), (450, 600));
        assert_eq!(boxed.output_dimensions(4000, 1000), (800, 200));
        let banner = PhotoSize::crop("banner", 300, 100);
        assert_eq!(banner.output_dimensions(1000, 1000), (300, 100));
        assert_eq!(banner.output_dimensions(150, 150), (150, 50));
        // Height only, and neither (the original size).
        assert_eq!(
            PhotoSize::fit("tall", 0, 500).output_dimensions(3000, 2000),
            (750, 500)
        );
        assert_eq!(
            PhotoSize::fit("orig", 0, 0).output_dimensions(123, 45),
            (123, 45)
        );
        // Upscaling only when asked; a crop with a side of 0 is a fit.
        let up = PhotoSize {
            upscale: true,
            ..PhotoSize::fit("up", 640, 0)
        };
        assert_eq!(up.output_dimensions(100, 80), (640, 512));
        assert_eq!(
            PhotoSize::crop("half", 200, 0).output_dimensions(400, 300),
            (200, 150)
        );
        // WebP cannot exceed 16383 pixels a side; JPEG alone may go further.
        let huge = PhotoSize {
            upscale: true,
            ..PhotoSize::fit("huge", 40_000, 0)
        };
        assert_eq!(huge.output_dimensions(1000, 500), (16_383, 8192));
        let huge_jpeg = PhotoSize {
            formats: vec![Format::Jpeg],
            ..huge
        };
        assert_eq!(huge_jpeg.output_dimensions(1000, 500), (40_000, 20_000));
    }

    #[test]
    fn renders_every_size_in_both_formats_at_exact_dimensions() {
        let cases = [
            // (source, expected display, expected large)
            ((2000, 1500), (640, 480), (1600, 1200)),
            ((1200, 1800), (640, 960), (1200, 1800)),
            ((100, 80), (100, 80), (100, 80)),
        ];
        for ((w, h), display, large) in cases {
            let src = jpeg(&DynamicImage::ImageRgb8(photo(w, h)), 90);
            let rendered = render(&src, &limits(), &PhotoSize::defaults()).expect("renders");
            assert_eq!((rendered.width, rendered.height), (w, h));
            let thumb = if w.min(h) < 150 {
                (w.min(h), w.min(h))
            } else {
                (150, 150)
            };
            let expected = [("thumb", thumb), ("display", display), ("large", large)];
            // In the order asked for: sizes, then each size's formats.
            let order: Vec<(&str, Format)> = rendered
                .outputs
                .iter()
                .map(|o| (o.size.as_str(), o.format))
                .collect();
            assert_eq!(
                order,
                expected
                    .iter()
                    .flat_map(|&(name, _)| [(name, Format::Jpeg), (name, Format::Webp)])
                    .collect::<Vec<_>>()
            );
            for output in &rendered.outputs {
                let want = expected.iter().find(|(n, _)| *n == output.size).unwrap().1;
                assert_eq!(
                    (output.width, output.height),
                    want,
                    "{w}x{h} {}",
                    output.size
                );
                assert_eq!(
                    decode_output(output).dimensions(),
                    want,
                    "{w}x{h} {} {:?} as decoded",
                    output.size,
                    output.format
                );
            }
        }
    }

    #[test]
    fn crop_takes_the_centre() {
        // Three bands across a wide image, and down a tall one: only the
        // middle (green) band survives a centred square crop.
        let bands = |width: u32, height: u32, across: bool| {
            RgbImage::from_fn(width, height, |x, y| {
                let band = if across {
                    x * 3 / width
                } else {
                    y * 3 / height
                };
                Rgb([RED, GREEN, BLUE][band as usize])
            })
        };
        let sizes = [PhotoSize::crop("square", 60, 60)];
        for img in [bands(600, 200, true), bands(200, 600, false)] {
            let rendered =
                render(&png(&DynamicImage::ImageRgb8(img)), &limits(), &sizes).expect("renders");
            for output in &rendered.outputs {
                let out = decode_output(output);
                assert_eq!(out.dimensions(), (60, 60));
                // Lanczos reads a few pixels past the crop, so stay clear of
                // its edges (3 output pixels here).
                for (x, y) in [(5, 5), (54, 5), (5, 54), (54, 54), (30, 30)] {
                    assert!(
                        near(rgb_at(&out, x, y), GREEN, 40),
                        "{:?} at {x},{y}",
                        output.format
                    );
                }
            }
        }
    }

    #[test]
    fn exif_orientation_6_is_applied_to_both_formats() {
        // Stored landscape 400×300; orientation 6 means "turn 90° clockwise
        // to view", so the upright image is 300×400 portrait.
        let stored = jpeg(&DynamicImage::ImageRgb8(quadrants(400, 300)), 95);
        let upload = jpeg_with_metadata(&stored, 6);
        let sizes = [
            PhotoSize::fit("fit", 150, 0),
            PhotoSize::crop("crop", 100, 50),
        ];
        let rendered = render(&upload, &limits(), &sizes).expect("renders");
        assert_eq!((rendered.width, rendered.height), (300, 400));
        for format in [Format::Jpeg, Format::Webp] {
            let out = decode_output(output(&rendered, "fit", format));
            assert_eq!(out.dimensions(), (150, 200), "{format:?} is upright");
            // Clockwise: stored top-left (red) is now top-right; stored
            // bottom-left (blue) top-left; green bottom-right; yellow bottom-left.
            assert!(near(rgb_at(&out, 10, 10), BLUE, 40), "{format:?}");
            assert!(near(rgb_at(&out, 140, 10), RED, 40), "{format:?}");
            assert!(near(rgb_at(&out, 10, 190), YELLOW, 40), "{format:?}");
            assert!(near(rgb_at(&out, 140, 190), GREEN, 40), "{format:?}");

            let crop = decode_output(output(&rendered, "crop", format));
            assert_eq!(crop.dimensions(), (100, 50), "{format:?} crop is upright");
        }
    }

    #[test]
    fn orient_matches_the_image_crate_for_every_orientation() {
        let rgb = RgbImage::from_fn(37, 23, |x, y| Rgb([x as u8, y as u8, (x * y) as u8]));
        let rgba = RgbaImage::from_fn(37, 23, |x, y| Rgba([x as u8, y as u8, 7, (x + y) as u8]));
        for exif in 1..=8 {
            let orientation = Orientation::from_exif(exif).unwrap();
            for image in [
                DynamicImage::ImageRgb8(rgb.clone()),
                DynamicImage::ImageRgba8(rgba.clone()),
            ] {
                let mut expected = image.clone();
                expected.apply_orientation(orientation);
                assert_eq!(orient(image, orientation), expected, "orientation {exif}");
            }
        }
    }

    /// Splits a RIFF/WebP file into its chunks, checking the container.
    fn webp_chunks(file: &[u8]) -> Vec<([u8; 4], Vec<u8>)> {
        assert_eq!(&file[..4], b"RIFF");
        assert_eq!(&file[8..12], b"WEBP");
        let riff_len = u32::from_le_bytes(file[4..8].try_into().unwrap()) as usize;
        assert_eq!(riff_len + 8, file.len(), "RIFF size covers the whole file");
        let mut chunks = Vec::new();
        let mut at = 12;
        while at < file.len() {
            let kind: [u8; 4] = file[at..at + 4].try_into().unwrap();
            let len = u32::from_le_bytes(file[at + 4..at + 8].try_into().unwrap()) as usize;
            chunks.push((kind, file[at + 8..at + 8 + len].to_vec()));
            at += 8 + len + len % 2;
        }
        assert_eq!(at, file.len(), "chunks end with the file");
        chunks
    }

    /// Marker codes of the segments before the first scan.
    fn jpeg_markers(file: &[u8]) -> Vec<u8> {
        let mut markers = Vec::new();
        let mut at = 2;
        while at + 4 <= file.len() && file[at] == 0xFF {
            let marker = file[at + 1];
            markers.push(marker);
            if marker == 0xDA {
                break;
            }
            at += 2 + u16::from_be_bytes([file[at + 2], file[at + 3]]) as usize;
        }
        markers
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn outputs_carry_no_metadata() {
        // A camera JPEG with everything, and a transparent PNG with an eXIf
        // chunk and an XMP text chunk (the WebP then needs VP8X + ALPH).
        let camera = jpeg_with_metadata(&jpeg(&DynamicImage::ImageRgb8(photo(320, 240)), 90), 6);
        let rgba = RgbaImage::from_fn(200, 100, |x, y| Rgba([x as u8, y as u8, 90, (x + y) as u8]));
        let plain_png = png(&DynamicImage::ImageRgba8(rgba));
        let mut tagged_png = plain_png[..33].to_vec(); // signature + IHDR
        for (kind, data) in [
            (*b"eXIf", exif_tiff(1)),
            (
                *b"iTXt",
                [b"XML:com.adobe.xmp\0\0\0\0\0".as_slice(), SECRET].concat(),
            ),
        ] {
            tagged_png.extend_from_slice(&(data.len() as u32).to_be_bytes());
            tagged_png.extend_from_slice(&kind);
            tagged_png.extend_from_slice(&data);
            tagged_png.extend_from_slice(&png_crc(&kind, &data).to_be_bytes());
        }
        tagged_png.extend_from_slice(&plain_png[33..]);

        let sizes = [
            PhotoSize::fit("whole", 0, 0),
            PhotoSize::crop("thumb", 64, 64),
        ];
        for (name, upload, alpha) in [("camera JPEG", camera, false), ("PNG", tagged_png, true)] {
            assert!(contains(&upload, SECRET), "the test plants the secret");
            let rendered = render(&upload, &limits(), &sizes).expect(name);
            for out in &rendered.outputs {
                let what = format!("{name} → {} {:?}", out.size, out.format);
                assert!(!contains(&out.bytes, SECRET), "{what} leaks metadata");
                assert!(!contains(&out.bytes, b"Exif"), "{what} has EXIF");
                match out.format {
                    Format::Jpeg => {
                        // JFIF (APP0), tables, frame, scan: no APP1..APP15, no COM.
                        let markers = jpeg_markers(&out.bytes);
                        assert_eq!(markers.first(), Some(&0xE0), "{what}: {markers:x?}");
                        assert_eq!(markers.last(), Some(&0xDA), "{what}: {markers:x?}");
                        for m in markers {
                            assert!(
                                matches!(m, 0xE0 | 0xDB | 0xC4 | 0xC0 | 0xC2 | 0xDD | 0xDA),
                                "{what} has marker {m:#x}"
                            );
                        }
                    }
                    Format::Webp => {
                        let chunks = webp_chunks(&out.bytes);
                        let kinds: Vec<&[u8; 4]> = chunks.iter().map(|(k, _)| k).collect();
                        for (kind, data) in &chunks {
                            assert!(
                                matches!(kind, b"VP8 " | b"VP8L" | b"VP8X" | b"ALPH"),
                                "{what} has a {} chunk",
                                String::from_utf8_lossy(kind)
                            );
                            if kind == b"VP8X" {
                                // Flags: ICC 0x20, EXIF 0x08, XMP 0x04.
                                assert_eq!(data[0] & 0x2C, 0, "{what} announces metadata");
                            }
                        }
                        assert_eq!(kinds.contains(&b"ALPH"), alpha, "{what}: {kinds:?}");
                        assert!(kinds.contains(&b"VP8 "), "{what} is lossy: {kinds:?}");
                    }
                }
            }
        }
    }

    /// CRC-32 as PNG chunks use it.
    fn png_crc(kind: &[u8], data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &byte in kind.iter().chain(data) {
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

    #[test]
    fn alpha_is_kept_in_webp_and_flattened_in_jpeg() {
        // Left half fully transparent black, right half opaque red, with a
        // half-transparent blue band in the middle rows.
        let rgba = RgbaImage::from_fn(300, 200, |x, y| {
            if (90..110).contains(&y) {
                Rgba([0, 0, 255, 128])
            } else if x < 150 {
                Rgba([0, 0, 0, 0])
            } else {
                Rgba([255, 0, 0, 255])
            }
        });
        let upload = png(&DynamicImage::ImageRgba8(rgba));
        let rendered =
            render(&upload, &limits(), &[PhotoSize::fit("fit", 150, 0)]).expect("renders");

        let webp = decode_output(output(&rendered, "fit", Format::Webp));
        assert!(webp.color().has_alpha(), "WebP keeps alpha");
        let alpha = |x, y| webp.get_pixel(x, y).0[3];
        assert!(
            alpha(10, 10) < 10,
            "transparent stays transparent: {}",
            alpha(10, 10)
        );
        assert!(
            alpha(140, 10) > 245,
            "opaque stays opaque: {}",
            alpha(140, 10)
        );
        assert!(
            (100..=156).contains(&alpha(75, 50)),
            "half stays half: {}",
            alpha(75, 50)
        );
        assert!(near(rgb_at(&webp, 140, 10), RED, 40));

        let jpeg = decode_output(output(&rendered, "fit", Format::Jpeg));
        assert!(!jpeg.color().has_alpha());
        assert!(
            near(rgb_at(&jpeg, 10, 10), [255, 255, 255], 12),
            "transparent → white"
        );
        assert!(near(rgb_at(&jpeg, 140, 10), RED, 40));
        assert!(
            near(rgb_at(&jpeg, 75, 50), [127, 127, 255], 40),
            "half blue over white"
        );

        // An alpha channel that is opaque everywhere is dropped.
        let opaque = RgbaImage::from_fn(64, 64, |x, y| Rgba([x as u8, y as u8, 0, 255]));
        let rendered = render(
            &png(&DynamicImage::ImageRgba8(opaque)),
            &limits(),
            &[PhotoSize::fit("fit", 0, 0)],
        )
        .expect("renders");
        let chunks = webp_chunks(&output(&rendered, "fit", Format::Webp).bytes);
        assert_eq!(chunks.len(), 1, "a plain VP8 file");
        assert_eq!(&chunks[0].0, b"VP8 ");
    }

    #[test]
    fn dct_scaled_decode_is_close_to_a_full_decode() {
        let full = photo(2400, 1600);
        let baseline = jpeg(&DynamicImage::ImageRgb8(full.clone()), 92);
        // The same picture, progressive (as many cameras and editors save).
        let mut encoder = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
        encoder.set_fastest_defaults();
        encoder.set_size(2400, 1600);
        encoder.set_quality(92.0);
        encoder.set_progressive_mode();
        let mut started = encoder.start_compress(Vec::new()).unwrap();
        started.write_scanlines(full.as_raw()).unwrap();
        let progressive = started.finish().unwrap();
        assert_eq!(
            jpeg_markers(&progressive)
                .iter()
                .filter(|&&m| m == 0xC2)
                .count(),
            1
        );

        // (widest size asked for, the decode's expected width): 1/4 (1/8 is
        // never used), 1/4 to the exact size, 1/2, 1/2 exact, no reduction.
        let cases = [
            (400, 600),
            (600, 600),
            (700, 1200),
            (1200, 1200),
            (1500, 2400),
        ];
        for (upload, label) in [(&baseline, "baseline"), (&progressive, "progressive")] {
            let decoded_full = image::load_from_memory(upload).unwrap().into_rgb8();
            for (width, scaled_width) in cases {
                let sizes = [PhotoSize::fit("fit", width, 0)];
                let (stored, _, full_w, full_h) = decode(upload, &limits(), &sizes).unwrap();
                assert_eq!((full_w, full_h), (2400, 1600));
                assert_eq!(
                    stored.width(),
                    scaled_width,
                    "{label} {width}: scale chosen"
                );

                let rendered = render(upload, &limits(), &sizes).unwrap();
                let out = output(&rendered, "fit", Format::Jpeg);
                let height = (f64::from(width) * 2.0 / 3.0).round() as u32;
                assert_eq!((out.width, out.height), (width, height));
                let ours = decode_output(out).into_rgb8();
                let want = reference(&decoded_full, width, height);
                let db = psnr(&ours, &want);
                assert!(db > 30.0, "{label} {width}: PSNR {db:.1} dB");
            }
        }
    }

    #[test]
    fn grey_jpegs_render_as_grey() {
        let grey = DynamicImage::ImageLuma8(image::GrayImage::from_fn(800, 600, |x, y| {
            image::Luma([((x + y) / 6) as u8])
        }));
        let rendered = render(
            &jpeg(&grey, 90),
            &limits(),
            &[PhotoSize::fit("fit", 200, 0)],
        )
        .expect("renders");
        for out in &rendered.outputs {
            let img = decode_output(out);
            assert_eq!(img.dimensions(), (200, 150));
            let [r, g, b] = rgb_at(&img, 100, 75);
            assert!(
                r.abs_diff(g) <= 3 && g.abs_diff(b) <= 3,
                "{:?}: {r},{g},{b}",
                out.format
            );
        }
    }

    #[test]
    fn formats_and_qualities_are_honoured() {
        let upload = jpeg(&DynamicImage::ImageRgb8(photo(600, 400)), 95);
        let sizes = [
            PhotoSize {
                formats: vec![Format::Webp, Format::Webp],
                ..PhotoSize::fit("webp-only", 300, 0)
            },
            PhotoSize {
                formats: vec![],
                ..PhotoSize::fit("nothing", 300, 0)
            },
            PhotoSize {
                quality: 30,
                webp_quality: 10,
                ..PhotoSize::fit("low", 300, 0)
            },
            PhotoSize {
                quality: 95,
                webp_quality: 95,
                ..PhotoSize::fit("high", 300, 0)
            },
        ];
        let rendered = render(&upload, &limits(), &sizes).expect("renders");
        let names: Vec<(&str, Format)> = rendered
            .outputs
            .iter()
            .map(|o| (o.size.as_str(), o.format))
            .collect();
        assert_eq!(
            names,
            [
                ("webp-only", Format::Webp),
                ("low", Format::Jpeg),
                ("low", Format::Webp),
                ("high", Format::Jpeg),
                ("high", Format::Webp),
            ]
        );
        for format in [Format::Jpeg, Format::Webp] {
            let low = output(&rendered, "low", format).bytes.len();
            let high = output(&rendered, "high", format).bytes.len();
            assert!(
                low * 2 < high,
                "{format:?}: quality matters ({low} vs {high})"
            );
        }
    }

    #[test]
    fn sizes_read_from_toml() {
        #[derive(Deserialize)]
        struct Photos {
            sizes: Vec<PhotoSize>,
        }
        #[derive(Deserialize)]
        struct Config {
            photos: Photos,
        }
        let config: Config = toml::from_str(
            r#"
            [[photos.sizes]]
            name = "thumb"
            width = 150
            height = 150
            crop = true

            [[photos.sizes]]
            name = "display"
            width = 640

            [[photos.sizes]]
            name = "large"
            width = 1600
            "#,
        )
        .expect("parses");
        assert_eq!(config.photos.sizes, PhotoSize::defaults());

        let odd: Config = toml::from_str(
            r#"
            [[photos.sizes]]
            name = "hero"
            width = 2000
            height = 800
            crop = true
            upscale = true
            quality = 90
            webp_quality = 75
            formats = ["webp"]
            "#,
        )
        .expect("parses");
        let hero = &odd.photos.sizes[0];
        assert_eq!((hero.quality, hero.webp_quality), (90, 75));
        assert_eq!(hero.formats, vec![Format::Webp]);
        assert!(hero.crop && hero.upscale);
        assert!(toml::from_str::<Config>("[[photos.sizes]]\nname = \"x\"\nwidht = 3").is_err());
        assert!(
            toml::from_str::<Config>("[[photos.sizes]]\nname = \"x\"\nformats = [\"gif\"]")
                .is_err()
        );
    }

    #[test]
    fn hostile_uploads_are_refused_without_panicking() {
        let sizes = PhotoSize::defaults();
        let good = jpeg(&DynamicImage::ImageRgb8(photo(640, 480)), 90);

        assert_eq!(
            render(&[], &limits(), &sizes).unwrap_err(),
            ImageError::Empty
        );
        assert_eq!(
            render(b"hello, not an image", &limits(), &sizes).unwrap_err(),
            ImageError::NotAnImage
        );
        let tight = ImageLimits {
            max_bytes: good.len() - 1,
            ..limits()
        };
        assert!(matches!(
            render(&good, &tight, &sizes),
            Err(ImageError::TooLarge { .. })
        ));

        // Cut in half: the scan never reaches its end.
        assert_eq!(
            render(&good[..good.len() / 2], &limits(), &sizes).unwrap_err(),
            ImageError::Corrupt
        );
        // A decompression bomb: a small file whose frame header claims
        // 60000×60000 pixels is refused from the header.
        let mut bomb = good.clone();
        let sof = bomb
            .windows(2)
            .position(|w| w == [0xFF, 0xC0])
            .expect("SOF0");
        bomb[sof + 5..sof + 9].copy_from_slice(&[0xEA, 0x60, 0xEA, 0x60]);
        assert!(matches!(
            render(&bomb, &limits(), &sizes),
            Err(ImageError::TooManyPixels {
                width: 60_000,
                height: 60_000,
                ..
            })
        ));
        // The same for a PNG header.
        let mut png_bomb = png(&DynamicImage::ImageRgb8(photo(16, 16)));
        png_bomb[16..24].copy_from_slice(&[0, 1, 0, 0, 0, 1, 0, 0]);
        assert!(matches!(
            render(&png_bomb, &limits(), &sizes),
            Err(ImageError::TooManyPixels { .. } | ImageError::Corrupt)
        ));
        // Magic bytes and nothing else.
        for stub in [
            &b"\xFF\xD8\xFF"[..],
            b"\x89PNG\r\n\x1a\n",
            b"GIF89a",
            b"RIFF\0\0\0\0WEBP",
        ] {
            assert!(render(stub, &limits(), &sizes).is_err());
        }

        // Odd but valid requests: no sizes, a 1-pixel image, silly numbers.
        assert!(render(&good, &limits(), &[]).unwrap().outputs.is_empty());
        let odd = [
            PhotoSize {
                quality: 0,
                webp_quality: 255,
                ..PhotoSize::crop("zero", 0, 0)
            },
            PhotoSize {
                upscale: true,
                ..PhotoSize::crop("thin", 1, 5000)
            },
        ];
        let dot = png(&DynamicImage::ImageRgb8(RgbImage::new(1, 1)));
        for upload in [&good, &dot] {
            let rendered = render(upload, &limits(), &odd).expect("renders");
            assert_eq!(rendered.outputs.len(), 4);
        }

        // Corruption anywhere in a valid file: an error or a picture, never
        // a panic (deterministic pseudo-random byte flips).
        let mut seed = 0x2545_F491_u32;
        for _ in 0..48 {
            let mut bad = good.clone();
            for _ in 0..4 {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let at = seed as usize % bad.len();
                bad[at] = (seed >> 24) as u8;
            }
            let _ = render(&bad, &limits(), &sizes);
        }
    }
}
