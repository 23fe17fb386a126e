#!/usr/bin/env bash
# Installs the bench's peers and tools from Debian: nginx (also the overhead scenario's
# `return 200` upstream), HAProxy, wrk (to cross-check the load generator) and h2load
# (nghttp2-client: the grpc scenario's HTTP/2 throughput).
# Idempotent: skips what is present. Never fails the caller: a missing peer is reported by the
# bench as "not installed" and the rest still runs.
set -u

want=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || want+=(nginx-light)
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || want+=(haproxy)
command -v wrk >/dev/null 2>&1 || want+=(wrk)
command -v h2load >/dev/null 2>&1 || want+=(nghttp2-client)

if [ ${#want[@]} -eq 0 ]; then
  echo "install-peers: nginx, haproxy, wrk and h2load are already installed"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "install-peers: not root and no sudo; install ${want[*]} by hand (the bench runs without them)" >&2
    exit 0
  fi
fi

echo "install-peers: installing ${want[*]}"
if ! $sudo apt-get update -qq || ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${want[@]}"; then
  echo "install-peers: apt-get failed; the bench runs without ${want[*]} and reports them as not installed" >&2
  exit 0
fi
# Debian starts nginx and HAProxy as services on install; the bench runs its own copies.
for service in nginx haproxy; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$service" 2>/dev/null; then
    $sudo systemctl stop "$service" || true
  fi
done
echo "install-peers: done"
