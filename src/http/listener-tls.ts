/**
 * TLS termination on a listener (traffic.md, Listeners `tls`): its certificate and key, and
 * with `clientCa` a client certificate that is required and verified (the server half of
 * mutual TLS). The files are watched like the policy: a rotated certificate is used for new
 * connections without a restart (cert-manager rewrites Secrets in place); a broken one is
 * reported and the old one stays.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync, type FSWatcher } from 'node:fs';
import { createSecureContext, type SecureContextOptions, type TlsOptions } from 'node:tls';
import type { ListenerTlsPolicy } from '../config/types.js';
import { watchPolicyFile } from '../config/watch.js';

/** A burst of writes (certificate, then key) reloads once. */
const ROTATION_DEBOUNCE_MS = 100;

export interface TlsStatus {
  readonly subject: string;
  /** When the certificate in use expires (ISO 8601). */
  readonly expires: string;
  readonly clientCertificates: 'required' | 'not requested';
}

export class ListenerTls {
  readonly #policy: ListenerTlsPolicy;
  #status: TlsStatus;
  #contextOptions: SecureContextOptions;
  #watchers: FSWatcher[] = [];
  #timer: NodeJS.Timeout | undefined;

  /** Reads the files now; throws if they are unusable (the loader has checked they are PEM). */
  constructor(policy: ListenerTlsPolicy) {
    this.#policy = policy;
    this.#contextOptions = this.#read();
    createSecureContext(this.#contextOptions);
    this.#status = this.#describe();
  }

  /** Options for https.createServer: the context, ALPN (`h2`, `http/1.1`), and client certificates when asked for. */
  serverOptions(alpn: readonly string[]): TlsOptions {
    const mutual = this.#policy.clientCaFile !== undefined;
    return { ...this.#contextOptions, ALPNProtocols: [...alpn], requestCert: mutual, rejectUnauthorized: mutual };
  }

  /** The certificate, key and CA alone, for setSecureContext on a reload. */
  contextOptions(): SecureContextOptions {
    return this.#contextOptions;
  }

  status(): TlsStatus {
    return this.#status;
  }

  /** Watch the files; on a change, hand the new context to `apply`, or `onError` why not. */
  watch(apply: (options: SecureContextOptions) => void, onRotated: (status: TlsStatus) => void, onError: (message: string) => void): void {
    const files = [this.#policy.certFile, this.#policy.keyFile, ...(this.#policy.clientCaFile === undefined ? [] : [this.#policy.clientCaFile])];
    const reload = (): void => {
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => {
        try {
          const options = this.#read();
          createSecureContext(options); // throws on a key that does not match, a broken PEM
          this.#contextOptions = options;
          apply(options);
          this.#status = this.#describe();
          onRotated(this.#status);
        } catch (err) {
          onError((err as Error).message);
        }
      }, ROTATION_DEBOUNCE_MS);
      this.#timer.unref();
    };
    this.#watchers = files.map((file) => watchPolicyFile(file, reload));
    for (const watcher of this.#watchers) watcher.on('error', (err) => onError(`watching the TLS files failed: ${err.message}`));
  }

  close(): void {
    clearTimeout(this.#timer);
    for (const watcher of this.#watchers) watcher.close();
  }

  #read(): SecureContextOptions {
    const { certFile, keyFile, clientCaFile } = this.#policy;
    return {
      cert: readFileSync(certFile),
      key: readFileSync(keyFile),
      ...(clientCaFile === undefined ? {} : { ca: readFileSync(clientCaFile) }),
    };
  }

  #describe(): TlsStatus {
    const certificate = new X509Certificate(this.#contextOptions.cert as Buffer);
    return {
      subject: certificate.subject.replace(/\n/g, ', '),
      expires: new Date(certificate.validTo).toISOString(),
      clientCertificates: this.#policy.clientCaFile === undefined ? 'not requested' : 'required',
    };
  }
}
