import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { ConfigError, type TlsFiles } from '../config.js';
import { readConfigFile } from '../config-values.js';

/** TLS 1.2 and 1.3 only; Node's default cipher list (forward-secret AEAD suites first) is kept. */
export const MIN_TLS_VERSION = 'TLSv1.2';

/** A certificate chain and its key, read and checked together. */
export interface TlsCredentials {
  readonly cert: string;
  readonly key: string;
  /** Of the edge's own certificate (the first in the chain), for logs. */
  readonly fingerprint256: string;
  readonly validTo: string;
  readonly names: string;
}

/**
 * Reads the PEM files and checks that they make a usable pair: a certificate Node can parse, a
 * private key, the key belonging to the certificate. Every failure is one ConfigError line.
 */
export function loadTlsCredentials(files: TlsFiles): TlsCredentials {
  const cert = readConfigFile(files.certFile, '--tls-cert');
  const key = readConfigFile(files.keyFile, '--tls-key');
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch {
    throw new ConfigError(`--tls-cert ${files.certFile} holds no PEM certificate`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw new ConfigError(`--tls-key ${files.keyFile} holds no PEM private key (an encrypted key is not supported)`);
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    throw new ConfigError(`--tls-key ${files.keyFile} does not belong to the certificate in --tls-cert ${files.certFile}`);
  }
  try {
    createSecureContext(secureContextOptions({ cert, key }));
  } catch (err) {
    throw new ConfigError(`--tls-cert ${files.certFile} and --tls-key ${files.keyFile} are not usable: ${(err as Error).message}`);
  }
  return { cert, key, fingerprint256: leaf.fingerprint256, validTo: leaf.validTo, names: leaf.subjectAltName ?? leaf.subject };
}

export function secureContextOptions(credentials: Pick<TlsCredentials, 'cert' | 'key'>): SecureContextOptions {
  return { cert: credentials.cert, key: credentials.key, minVersion: MIN_TLS_VERSION };
}
