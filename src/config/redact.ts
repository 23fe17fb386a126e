/**
 * What /config shows: the running policy as written, minus secrets. Header values in route
 * matches may carry tokens and endpoint URLs may carry credentials, so both are masked.
 */
const MASK = '<redacted>';

export function redactPolicySource(source: unknown): unknown {
  return redact(source, []);
}

function redact(value: unknown, path: readonly string[]): unknown {
  if (Array.isArray(value)) return value.map((item) => redact(item, path));
  if (typeof value === 'string') return redactUrlCredentials(value);
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  const inMatchHeaders = path.at(-1) === 'headers' && path.at(-2) === 'match';
  for (const [key, item] of Object.entries(value)) {
    out[key] = inMatchHeaders ? MASK : redact(item, [...path, key]);
  }
  return out;
}

/** `http://user:secret@host:80` → `http://<redacted>@host:80`. */
function redactUrlCredentials(text: string): string {
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/i, `$1${MASK}@`);
}
