/**
 * nginx, as the overhead scenario's upstream (`return 200` with a 100-byte body) and as a peer
 * proxy. The bench writes the config into a temp dir and runs nginx in the foreground there, one
 * worker process, pinned like everything else.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { waitFor200 } from '../lib/http.js';
import { spawnPinned, stop, type Role } from '../lib/procs.js';
import { findBinary, tempDir } from '../lib/tmp.js';
import { defaultBody } from '../upstreams/behaviour.js';
import { diedReason, failureReason, type Started } from './target.js';

function mainConfig(dir: string, server: string): string {
  // The master runs as root here; without `user root` the worker would run as nobody and
  // could not open files in our private temp dir.
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${dir}/${t};`).join('\n');
  return `${user}worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 8192; multi_accept on; }
http {
  access_log off;
${temp}
  keepalive_requests 10000000;
  keepalive_timeout 300s;
${server}
}
`;
}

/** `port` is the one the bench sends load to; readiness is probed with HTTP/1.1 on `probePort`. */
async function run(name: string, role: Role, conf: string, port: number, probe: string, probePort = port): Promise<Started> {
  const bin = findBinary('nginx');
  if (!bin) return { ok: false, reason: 'not installed (bench/install-peers.sh)' };
  const dir = tempDir(name);
  const file = path.join(dir, 'nginx.conf');
  fs.writeFileSync(file, mainConfig(dir, conf));
  const child = spawnPinned(name, bin, ['-p', dir, '-c', file, '-g', 'daemon off;'], { role });
  try {
    const readyMs = await waitFor200(child, probePort, probe);
    return { ok: true, port, pid: child.pid, readyMs, stop: () => stop(child).then(() => undefined), died: diedReason(child) };
  } catch (err) {
    await stop(child);
    return { ok: false, reason: failureReason(err) };
  }
}

/** The `return 200` upstream of the overhead scenario, on the generator's core. */
export function startNginxUpstream(port: number): Promise<Started> {
  const body = defaultBody('nginx');
  const server = `  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / { default_type application/json; return 200 '${body}'; }
  }`;
  return run('nginx-upstream', 'generator', server, port, '/');
}

/** nginx as a reverse proxy with keep-alive to the upstream. */
export function startNginxProxy(port: number, upstreamPort: number): Promise<Started> {
  const server = `  upstream app { server 127.0.0.1:${upstreamPort}; keepalive 64; keepalive_requests 10000000; }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }`;
  return run('nginx-proxy', 'proxy', server, port, '/');
}

/**
 * nginx as a WebSocket proxy, configured as its documentation says: HTTP/1.1 to the upstream
 * and the Upgrade/Connection fields passed on, so the upstream's 101 joins the connections.
 * Tunnels idle up to 300 s (the default 60 s read timeout would not matter here either).
 */
export function startNginxWsProxy(port: number, upstreamPort: number): Promise<Started> {
  const server = `  upstream echo { server 127.0.0.1:${upstreamPort}; }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / {
      proxy_pass http://echo;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_read_timeout 300s;
      proxy_send_timeout 300s;
    }
  }`;
  return run('nginx-ws-proxy', 'proxy', server, port, '/');
}

/**
 * nginx terminating TLS with the given certificate on `tlsPort` and proxying plain HTTP on
 * `port`, both to the upstream with keep-alive: one process, so "TLS over plain through the
 * same proxy" is one worker. TLS 1.2 and 1.3 (nginx before 1.23.4 leaves 1.3 out by default,
 * and Node clients and Outrider speak 1.3); its defaults otherwise (session tickets on).
 */
export function startNginxTlsProxy(port: number, tlsPort: number, upstreamPort: number, cert: string, key: string): Promise<Started> {
  const server = `  upstream app { server 127.0.0.1:${upstreamPort}; keepalive 64; keepalive_requests 10000000; }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    listen 127.0.0.1:${tlsPort} ssl backlog=4096;
    ssl_certificate ${cert};
    ssl_certificate_key ${key};
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }`;
  return run('nginx-tls-proxy', 'proxy', server, port, '/');
}

/** The installed nginx's version as [major, minor, patch], or undefined when it is missing. */
export function nginxVersion(): [number, number, number] | undefined {
  const bin = findBinary('nginx');
  if (!bin) return undefined;
  const out = spawnSync(bin, ['-v'], { encoding: 'utf8' });
  const m = /nginx\/(\d+)\.(\d+)\.(\d+)/.exec(`${out.stderr}${out.stdout}`);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

/** nginx 1.25.1 and later turn HTTP/2 on with `http2 on;`; before, with `listen … http2`. */
export function h2cByHttp2On(version: readonly [number, number, number] | undefined): boolean {
  if (!version) return false;
  const [major, minor, patch] = version;
  return major > 1 || (major === 1 && (minor > 25 || (minor === 25 && patch >= 1)));
}

/**
 * nginx serving HTTP/2 without TLS (h2c, prior knowledge) on `port` and proxying HTTP/1.1 to
 * the upstream with keep-alive, as the overhead scenario's nginx does. nginx 1.25.1 and later
 * spell it `http2 on;`; earlier releases (Debian 12 has 1.22.1) `listen ... http2`, which on a
 * plain listener means h2c with prior knowledge only, so readiness is probed with HTTP/1.1 on
 * `probePort`, a second listener of the same server.
 */
export function startNginxH2cProxy(port: number, probePort: number, upstreamPort: number): Promise<Started> {
  const modern = h2cByHttp2On(nginxVersion());
  const server = `  upstream app { server 127.0.0.1:${upstreamPort}; keepalive 64; keepalive_requests 10000000; }
  server {
    listen 127.0.0.1:${port}${modern ? '' : ' http2'} backlog=4096;
    listen 127.0.0.1:${probePort};
${modern ? '    http2 on;\n' : ''}    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }`;
  return run('nginx-h2c-proxy', 'proxy', server, port, '/', probePort);
}
