# Shared by the bench/ scripts: `source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"`.
# Moves to the project root and sets ROOT.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# release_build ARGS...: `cargo build --release ARGS`, then prints the
# release folder of the target dir (CARGO_TARGET_DIR is honoured).
release_build() {
  cargo build --release "$@" >&2
  local target=${CARGO_TARGET_DIR:-target}
  [[ $target == /* ]] || target=$ROOT/$target
  echo "$target/release"
}
