#!/usr/bin/env bash
# Slow clients against the sidecar, with slowhttptest (Debian's package): a slow-body attack
# (-B, R-U-Dead-Yet) and a slow-read attack (-X), each beside a trickle of normal requests to
# the same upstream, counting the normal requests that fail. Prints one line per attack.
#
#   bash bench/scripts/slow-clients.sh [seconds]      # default 30 s per attack
#
# The upstream is a node:http server answering BODY_KIB KiB (default 64; issue 11 used larger); the sidecar runs from this checkout's
# dist/ with its default limits (128 pooled connections per endpoint, replayBodyLimit 1 MiB).
# issue 11 measured 10 of 13 and 6 of 29 normal requests failing before the fix.
set -u
cd "$(dirname "$0")/../.."
seconds=${1:-30}
command -v slowhttptest >/dev/null || { echo "slowhttptest is not installed (apt-get install slowhttptest)" >&2; exit 2; }
work=$(mktemp -d)
up_port=18480; proxy_port=18481; admin_port=18482
cat > "$work/policy.yaml" <<YAML
version: 1
admin: { address: 127.0.0.1:$admin_port }
accessLog: off
listeners:
  - { name: outbound, address: 127.0.0.1:$proxy_port }
upstreams:
  app: { endpoints: [http://127.0.0.1:$up_port] }
routes:
  - { name: all, match: { pathPrefix: / }, upstream: app }
YAML
node -e "
  const body = Buffer.alloc(${BODY_KIB:-64} * 1024, 97);
  require('node:http').createServer((req, res) => { req.resume(); req.on('end', () => res.end(body)); }).listen($up_port, '127.0.0.1');
" & up=$!
node bin/outrider --config "$work/policy.yaml" 2>"$work/sidecar.err" & proxy=$!
trap 'kill $up $proxy 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$admin_port/readyz" >/dev/null && break; sleep 0.1; done

# One normal request a second for the attack's length; prints "failed/total".
normal() {
  local failed=0 total=0
  for _ in $(seq "$seconds"); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST --data 'normal' "http://127.0.0.1:$proxy_port/normal")
    total=$((total + 1)); [ "$code" = 200 ] || failed=$((failed + 1))
    sleep 1
  done
  echo "$failed/$total"
}

attack() {
  local name=$1; shift
  slowhttptest "$@" -l "$seconds" -u "http://127.0.0.1:$proxy_port/slow" >"$work/$name.log" 2>&1 & local pid=$!
  sleep 3 # let the attack open its connections first
  local result; result=$(normal)
  wait $pid 2>/dev/null
  local alive=yes; kill -0 $proxy 2>/dev/null || alive=no
  echo "$name: normal requests failed $result; sidecar alive: $alive"
}

attack "slow body (-B -c 400)" -B -c 400 -r 200 -i 5 -s 65536 -x 10 -p 3
attack "slow read (-X -c 400)" -X -c 400 -r 200 -k 4 -n 3 -w 512 -y 1024 -z 32 -p 3
