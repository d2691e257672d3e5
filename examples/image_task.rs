//! The upload-pipeline benchmark task: `image_task IN OUTDIR` makes the
//! default photo sizes of IN and writes `thumb|display|large` `.jpg|.webp`
//! into OUTDIR, then prints `{"task_s": seconds}` (from reading the file to
//! the last file written, as the Python peers measure theirs).
//!
//! Built and run by `bench/images.sh` beside the peers in
//! `../shared/peers/images/`.

use std::process::ExitCode;
use std::time::Instant;

use coterie::media::images::ImageLimits;
use coterie::media::pipeline::{render, PhotoSize};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, input, outdir] = args.as_slice() else {
        eprintln!("usage: image_task IN OUTDIR");
        return ExitCode::from(2);
    };
    let started = Instant::now();
    let bytes = match std::fs::read(input) {
        Ok(bytes) => bytes,
        Err(err) => {
            eprintln!("cannot read {input}: {err}");
            return ExitCode::FAILURE;
        }
    };
    // Roomier than the avatar defaults: the benchmark's 24 MP JPEG is 5.6 MB.
    let limits = ImageLimits {
        max_bytes: 64 * 1024 * 1024,
        max_pixels: 100_000_000,
    };
    let rendered = match render(&bytes, &limits, &PhotoSize::defaults()) {
        Ok(rendered) => rendered,
        Err(err) => {
            eprintln!("{input}: {err}");
            return ExitCode::FAILURE;
        }
    };
    // The upload is no longer needed; free it before writing.
    drop(bytes);
    for output in &rendered.outputs {
        let path = std::path::Path::new(outdir).join(format!(
            "{}.{}",
            output.size,
            output.format.extension()
        ));
        if let Err(err) = std::fs::write(&path, &output.bytes) {
            eprintln!("cannot write {}: {err}", path.display());
            return ExitCode::FAILURE;
        }
    }
    println!("{{\"task_s\": {:.6}}}", started.elapsed().as_secs_f64());
    ExitCode::SUCCESS
}
