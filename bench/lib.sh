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

# start_server PORT LOG CMD...: runs CMD in the background (output to LOG),
# keeps its pid in $server, and waits until /healthz on 127.0.0.1:PORT
# answers (up to 20 s; else prints LOG and fails). stop_server stops it;
# scripts call it from their EXIT trap.
server=
start_server() {
  local port=$1 log=$2
  shift 2
  "$@" >"$log" 2>&1 &
  server=$!
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "the server on port $port did not start:" >&2
  cat "$log" >&2
  return 1
}

stop_server() {
  if [[ -n $server ]]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=
  fi
}
