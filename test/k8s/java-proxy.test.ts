/**
 * A real JVM with the app container's environment as the chart renders it: with
 * app.javaProxy.enabled, JAVA_TOOL_OPTIONS sends an http:// call to a named host through the
 * outbound listener (a stand-in proxy here that records what it gets), and a host in
 * app.noProxy direct (http.nonProxyHosts, NO_PROXY's `.suffix` as Java's `*.suffix`). Without it, the JVM ignores HTTP_PROXY, and
 * -Djava.net.useSystemProxies does not make it read the variable either (on Linux it reads
 * GNOME's settings): the call goes straight past the proxy, as docs/kubernetes.md now says.
 * Needs `java` with its compiler (a JDK: .ci/run installs default-jdk-headless where missing).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { helmTemplate } from './fixtures/helm.js';
import { CHART_DIR } from './fixtures/chart.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are free-form YAML */
type Any = any;

const GET = `import java.net.HttpURLConnection;
import java.net.URI;

/** GET each URL with the JVM's own proxy selection: one line each, URL then status and body, or the error. */
public class Get {
  public static void main(String[] args) throws Exception {
    for (String url : args) {
      try {
        HttpURLConnection c = (HttpURLConnection) URI.create(url).toURL().openConnection();
        c.setConnectTimeout(5000);
        c.setReadTimeout(5000);
        int status = c.getResponseCode();
        System.out.println(url + " " + status + " " + new String(c.getInputStream().readAllBytes(), "UTF-8"));
      } catch (Exception e) {
        System.out.println(url + " error " + e.getClass().getSimpleName());
      }
    }
  }
}
`;

async function listen(handler: (url: string) => string): Promise<{ server: Server; port: number; seen: string[] }> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(req.url ?? '');
    res.end(handler(req.url ?? ''));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port, seen };
}

function java(classes: string, env: Record<string, string>, urls: string[]): Promise<{ lines: string[]; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('java', ['-cp', classes, 'Get', ...urls], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', () => resolve({ lines: stdout.trim().split('\n'), stderr }));
  });
}

t.test('a JVM goes through the outbound listener with the chart JAVA_TOOL_OPTIONS, and past it without', async (t) => {
  const javac = spawnSync('javac', ['-version'], { encoding: 'utf8' });
  if (javac.error !== undefined || javac.status !== 0) {
    t.fail(`no javac (${javac.error?.message ?? javac.stderr}): install a JDK (apt-get install default-jdk-headless), as .ci/run does`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'outrider-java-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'Get.java'), GET);
  const compiled = spawnSync('javac', ['-d', dir, join(dir, 'Get.java')], { encoding: 'utf8' });
  t.equal(compiled.status, 0, `javac: ${compiled.stderr}`);

  const proxy = await listen((url) => `proxied ${url}`);
  const direct = await listen(() => 'direct');
  t.teardown(() => (proxy.server.close(), direct.server.close()));

  // The app container's environment from the chart, the outbound listener on the proxy's port.
  const manifests = helmTemplate(CHART_DIR, { values: [`sidecar: { ports: { outbound: ${proxy.port} } }\napp: { javaProxy: { enabled: true }, noProxy: [.direct.invalid] }\n`] });
  const app = (manifests.find((m) => m.doc.kind === 'Deployment')?.doc as Any).spec.template.spec.containers[0];
  const env = Object.fromEntries(app.env.map((e: Any) => [e.name, e.value])) as Record<string, string>;
  t.match(env.HTTP_PROXY, `http://127.0.0.1:${proxy.port}`);
  const { JAVA_TOOL_OPTIONS: options, ...proxyVariables } = env;
  t.ok(options, 'the chart sets JAVA_TOOL_OPTIONS');

  const named = 'http://catalog.invalid/items/1';
  const listed = 'http://api.direct.invalid/';
  const loopback = `http://127.0.0.1:${direct.port}/`;
  const [withOptions, variablesOnly, systemProxies] = await Promise.all([
    java(dir, env, [named, listed, loopback]),
    java(dir, proxyVariables, [named]),
    java(dir, { ...proxyVariables, JAVA_TOOL_OPTIONS: '-Djava.net.useSystemProxies=true' }, [named]),
  ]);
  t.match(withOptions.stderr, `Picked up JAVA_TOOL_OPTIONS: ${options}`, 'the JVM read the options');
  t.same(
    withOptions.lines,
    [`${named} 200 proxied ${named}`, `${listed} error UnknownHostException`, `${loopback} 200 direct`],
    'the named host through the proxy (absolute-form request); the app.noProxy host direct (the JVM resolves it, and .invalid fails); loopback direct',
  );
  t.same(proxy.seen, [named], 'the proxy saw only the named host');
  t.same(variablesOnly.lines, [`${named} error UnknownHostException`], 'HTTP_PROXY alone: the JVM resolves the host itself, past the proxy');
  t.same(systemProxies.lines, [`${named} error UnknownHostException`], '-Djava.net.useSystemProxies=true: the same, it does not read HTTP_PROXY');
});
