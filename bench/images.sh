#!/usr/bin/env bash
# Image pipeline benchmark: Coterie's upload task (examples/image_task.rs:
# decode, orient, strip, thumb/display/large as JPEG and WebP) measured as
# one more peer beside Pillow, libvips and ImageMagick, in the same run, by
# ../shared/peers/images/run-images.sh (its candidate mode). Prints the
# peers' table, then Coterie's wall, cpu and max RSS divided by the best
# peer's, per image. Record the figures in BENCHMARKS.md.
#
# Env: passed through to run-images.sh (RUNS, WARMUP, PEERS, IMAGES, KEEP,
# PEERS_BUILD); CARGO_TARGET_DIR is honoured. PEERS_DIR overrides where the
# peers live (default: ../shared/peers beside the project).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bin=$(release_build --example image_task)/examples/image_task
[[ -x $bin ]] || { echo "images.sh: $bin was not built" >&2; exit 1; }

peers=${PEERS_DIR:-$ROOT/../shared/peers}
# The driver splits the template like a shell would, so quote the path.
export CANDIDATE_CMD="'$bin' {in} {outdir}"
export CANDIDATE_NAME=coterie
exec "$peers/images/run-images.sh"
