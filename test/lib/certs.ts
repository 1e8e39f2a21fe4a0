import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** PEM files made by the `openssl` CLI in a temp dir: nothing here is ever committed. */
export interface TestCa {
  /** The root certificate clients are told to trust (NODE_EXTRA_CA_CERTS, `ca`). */
  readonly caFile: string;
  readonly caPem: string;
  readonly dir: string;
}

export interface ServerCert {
  /** The full chain: the server certificate, then the intermediate. */
  readonly certFile: string;
  readonly keyFile: string;
  /** Upper-case hex, as X509Certificate#serialNumber prints it. */
  readonly serial: string;
}

const openssl = (args: readonly string[]): void => {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
};

const P256 = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** A root CA and an intermediate it signed, like a public CA's chain. */
export function makeTestCa(dir: string): TestCa & { readonly intermediate: { cert: string; key: string } } {
  const caFile = join(dir, 'root.pem');
  const rootKey = join(dir, 'root.key');
  openssl(['req', '-x509', ...P256, '-keyout', rootKey, '-out', caFile, '-days', '2', '-subj', '/CN=Postern test root',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  const cert = join(dir, 'intermediate.pem');
  const key = join(dir, 'intermediate.key');
  const csr = join(dir, 'intermediate.csr');
  const ext = join(dir, 'intermediate.ext');
  writeFileSync(ext, 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n');
  openssl(['req', ...P256, '-keyout', key, '-out', csr, '-subj', '/CN=Postern test intermediate']);
  openssl(['x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', rootKey, '-set_serial', '0x1000', '-days', '2', '-extfile', ext, '-out', cert]);
  return { caFile, caPem: readFileSync(caFile, 'utf8'), dir, intermediate: { cert, key } };
}

/**
 * A server certificate for `names` (DNS names; IP addresses as `IP:…`) signed by the
 * intermediate, written as a full chain. `serial` tells two certificates apart.
 */
export function issueServerCert(ca: ReturnType<typeof makeTestCa>, name: string, names: readonly string[], serial: string): ServerCert {
  const leaf = join(ca.dir, `${name}.leaf.pem`);
  const keyFile = join(ca.dir, `${name}.key`);
  const csr = join(ca.dir, `${name}.csr`);
  const ext = join(ca.dir, `${name}.ext`);
  const san = names.map((n) => (n.startsWith('IP:') ? n : `DNS:${n}`)).join(',');
  writeFileSync(ext, `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=${san}\n`);
  openssl(['req', ...P256, '-keyout', keyFile, '-out', csr, '-subj', `/CN=${names[0]}`]);
  openssl(['x509', '-req', '-in', csr, '-CA', ca.intermediate.cert, '-CAkey', ca.intermediate.key, '-set_serial', `0x${serial}`, '-days', '2', '-extfile', ext, '-out', leaf]);
  const certFile = join(ca.dir, `${name}.fullchain.pem`);
  writeFileSync(certFile, readFileSync(leaf, 'utf8') + readFileSync(ca.intermediate.cert, 'utf8'));
  return { certFile, keyFile, serial: serial.toUpperCase() };
}
