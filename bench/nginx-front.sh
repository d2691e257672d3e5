#!/usr/bin/env bash
# Runs one Coterie process behind nginx, configured by deploy/nginx.conf
# (the production site file; only its ports and folders are rewritten), and
# stays in the foreground until it is stopped. Both share the CPU this is
# pinned to, so a benchmark measures the pair on one core.
#
#   bench/nginx-front.sh LISTEN_PORT APP_PORT DATA_DIR COTERIE_BIN
#
# The app's environment (COTERIE_*, RUST_LOG) is passed through. nginx gets
# one worker and no access log, as the nginx peer has; it runs as root
# because the benchmark's data folder is private.
set -euo pipefail
listen=$1 app=$2 data=$3 bin=$4
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
conf=$data/nginx
mkdir -p "$conf/tmp" "$conf/static"

"$bin" collect-static "$conf/static" >/dev/null
sed -e "s|^\(\s*\)server 127.0.0.1:8001 .*|\1server 127.0.0.1:$app;|" \
    -e "/server 127.0.0.1:8002/d" \
    -e "s|listen 80;|listen 127.0.0.1:$listen;|" \
    -e "s|/srv/coterie/static/|$conf/static/|" \
    -e "s|/srv/coterie/data/media/|$data/media/|" \
    "$root/deploy/nginx.conf" >"$conf/site.conf"
cat >"$conf/nginx.conf" <<EOF
user root;
worker_processes 1;
daemon off;
pid "$conf/nginx.pid";
error_log "$conf/error.log" warn;
events { worker_connections 1024; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    access_log off;
    client_body_temp_path "$conf/tmp/body";
    proxy_temp_path "$conf/tmp/proxy";
    fastcgi_temp_path "$conf/tmp/fastcgi";
    uwsgi_temp_path "$conf/tmp/uwsgi";
    scgi_temp_path "$conf/tmp/scgi";
    include "$conf/site.conf";
}
EOF

nginx -p "$conf/" -e "$conf/error.log" -c "$conf/nginx.conf" &
front=$!
COTERIE_TRUSTED_PROXIES=${COTERIE_TRUSTED_PROXIES:-127.0.0.1} "$bin" serve --addr "127.0.0.1:$app" &
back=$!
trap 'kill $front $back 2>/dev/null; wait' TERM INT EXIT
wait -n $front $back
