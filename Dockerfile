# syntax=docker/dockerfile:1
#
# The Outrider sidecar image: docs/kubernetes.md says how to build, run and deploy it.
#
#   docker build -t outrider:0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" .
#   docker run --rm -v "$PWD/config:/etc/outrider:ro" -p 15006:15006 outrider:0.1.0
#
# Four stages, one Node.js major (24, the current LTS) and one Debian release (12, bookworm)
# throughout, so the node_modules built on Debian run on the same glibc in the final image:
#   build   - every dependency, TypeScript compiled to dist/, the policy JSON Schema regenerated
#   deps    - production dependencies only (npm ci --omit=dev), no install scripts
#   init    - the capture init container (`outrider capture`): the same app, plus iptables
#   runtime - distroless Node.js: no shell, no package manager, uid 65532 (the default target)
#
# The init image, for pods whose traffic is captured (docs/kubernetes.md, "Capture"):
#   docker build --target init -t outrider-init:0.1.0 .
# It runs once per pod start as root with NET_ADMIN and NET_RAW, installs the iptables rules
# and exits; the sidecar image itself stays distroless and non-root.
# The final image holds node_modules (production), dist/, bin/, schema/ and package.json (read
# by `outrider --version`), nothing else. Expected size: about 160 MB uncompressed, about 50 MB
# compressed. Nearly all of it is the distroless Node.js 24 base (the node binary); Outrider adds
# about 12 MB: 11 MB of production node_modules and 0.5 MB of dist/, as measured by
# test/k8s/production-install.test.ts. The base size is an estimate: no image was built here.
#
# Signals: the ENTRYPOINT is in exec form, so Node.js is PID 1 and receives SIGTERM itself. A
# PID 1 ignores signals it has no handler for, but Outrider installs handlers for SIGTERM, SIGINT
# (drain, then exit 0) and SIGHUP (reload), and it starts no child processes, so there are no
# zombies to reap: no init process (tini, docker run --init) is needed.

FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY schema ./schema
COPY src ./src
RUN npm run build

FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# No production dependency needs an install script (all are plain JavaScript), so none runs.
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# Not the last stage: a plain `docker build .` still builds the sidecar (runtime).
FROM node:24-bookworm-slim AS init
# Debian's iptables: iptables-nft by default (what current kernels and distributions use), with
# iptables-legacy beside it. Nothing else is installed; the lists are not kept in the layer.
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/schema ./schema
COPY package.json ./
COPY bin ./bin
# Root on purpose: iptables-restore needs uid 0 with CAP_NET_ADMIN (the pod grants only that
# and NET_RAW to this container), and the container exits once the rules are in.
USER 0:0
ENTRYPOINT ["node", "/app/bin/outrider", "capture"]
CMD ["--help"]

FROM gcr.io/distroless/nodejs24-debian12:nonroot AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="outrider" \
      org.opencontainers.image.description="Service-mesh sidecar proxy: hedging, circuit breaking, bulkheads, retry budgets, shadow traffic and scatter-gather, per route from one YAML policy" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="gcr.io/distroless/nodejs24-debian12:nonroot"
ENV NODE_ENV=production
# V8's heap sized for a sidecar, chosen by measurement on this image's Node.js (docs/kubernetes.md,
# "Memory"). Young generation: semi-spaces of at most 4 MiB, not V8's 64 on a big node (RSS
# at 5,000 req/s 250 -> 105 MiB; 16 MiB gave 130 for 4% less CPU) and not the 1 MiB V8 picks
# in a 256Mi container, which costs 4x the scavenges (310 instead of about 75 per 10k requests). Old
# generation: 192 MiB, which keeps V8's heap growth factor at 1.3 instead of 4 (170 -> 135 MiB
# at 5,000 req/s) and still holds a listener's 16,384 connections with a request in flight on
# each (160 MiB does not). In NODE_OPTIONS so a pod can replace it; the chart's
# sidecar.nodeOptions and `outrider inject` set the same value (test/k8s/node-options.test.ts).
ENV NODE_OPTIONS="--max-semi-space-size=4 --max-old-space-size=192"
# glibc's malloc gives each thread that allocates its own arena (V8's GC and compiler threads),
# and freed memory in them stays resident: two arenas, measured paired on this image's Node.js,
# peak RSS at 5,000 req/s 108.5 -> 99.1 MiB (medians of 5), CPU per request within noise
# (docs/kubernetes.md, "Memory"). An env entry of the pod replaces it.
ENV MALLOC_ARENA_MAX=2
WORKDIR /app
# Owned by root and read-only to the process: the sidecar writes nothing but stdout and stderr,
# so the chart runs it with readOnlyRootFilesystem.
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/schema ./schema
COPY package.json ./
COPY bin ./bin
# 65532 is distroless's "nonroot"; numeric, so Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
# 15001: outbound listener (the app's HTTP_PROXY, 127.0.0.1 in the conventional policy)
# 15006: inbound listener (the Service targets it)
# 9901:  admin server (/healthz /readyz /metrics /config /status; 0.0.0.0 in the Helm chart)
EXPOSE 15001 15006 9901
# `docker run IMAGE validate /etc/outrider/outrider.yaml` works too: CMD holds only the flags.
ENTRYPOINT ["/nodejs/bin/node", "/app/bin/outrider"]
CMD ["--config", "/etc/outrider/outrider.yaml"]
