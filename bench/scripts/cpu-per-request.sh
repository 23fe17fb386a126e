#!/usr/bin/env bash
# CPU per request of two builds of the sidecar side by side: user+system time of the sidecar's
# process over a 5 s wrk run (-t1 -c32, after a 2 s warm-up), divided by the requests, for each
# build in turn, three interleaved rounds. nginx `return 200` (100 bytes) is the upstream; the
# sidecar runs alone on core 1, nginx and wrk on core 0. A CPU-time ratio is steadier than a
# throughput ratio on a shared machine.
#
#   bash bench/scripts/cpu-per-request.sh OTHER_CHECKOUT [THIS_CHECKOUT]
#
# Each checkout must be built (npm run build). Needs nginx, wrk and taskset.
set -u
other=${1:?usage: cpu-per-request.sh OTHER_CHECKOUT [THIS_CHECKOUT]}
this=${2:-$(cd "$(dirname "$0")/../.." && pwd)}
work=$(mktemp -d)
trap 'kill $ng 2>/dev/null; rm -rf "$work"' EXIT
cat > "$work/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx.err;
events { worker_connections 1024; }
http { access_log off; server { listen 127.0.0.1:18580; location / { return 200 "$(printf '%0100d' 0)"; } } }
CONF
cat > "$work/policy.yaml" <<'YAML'
version: 1
admin: { address: 127.0.0.1:18582 }
accessLog: off
listeners:
  - { name: outbound, address: 127.0.0.1:18581 }
upstreams:
  app: { endpoints: [http://127.0.0.1:18580] }
routes:
  - { name: all, match: { pathPrefix: / }, upstream: app }
YAML
taskset -c 0 nginx -c "$work/nginx.conf" & ng=$!
sleep 0.5
tck=$(getconf CLK_TCK)
for round in 1 2 3; do
  for tree in "$other" "$this"; do
    taskset -c 1 node "$tree/bin/outrider" --config "$work/policy.yaml" 2>/dev/null & pid=$!
    for _ in $(seq 100); do curl -sf http://127.0.0.1:18582/readyz >/dev/null && break; sleep 0.05; done
    taskset -c 0 wrk -t1 -c32 -d2s http://127.0.0.1:18581/ >/dev/null 2>&1
    t0=$(awk '{print $14+$15}' "/proc/$pid/stat")
    out=$(taskset -c 0 wrk -t1 -c32 -d5s http://127.0.0.1:18581/ 2>&1)
    t1=$(awk '{print $14+$15}' "/proc/$pid/stat")
    reqs=$(grep -oE '^ +[0-9]+ requests' <<<"$out" | grep -oE '[0-9]+')
    echo "round $round  $tree  requests=$reqs  cpu_us_per_request=$(awk -v a="$t0" -v b="$t1" -v r="$reqs" -v t="$tck" 'BEGIN{printf "%.1f", (b-a)/t*1e6/r}')"
    kill "$pid"; wait "$pid" 2>/dev/null
  done
done
