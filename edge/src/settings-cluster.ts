import { ConfigError, readConfigFile, text, url, type ValueType } from './config-values.js';
import { setting } from './setting.js';
import { isPostgresUrl } from './store/sql/target.js';

/** Below this a secret is guessable offline from one captured link handshake. */
export const MIN_CLUSTER_SECRET_BYTES = 32;

/**
 * `--store`: a PostgreSQL URL or a SQLite file. A URL may not carry a password: `--print-config`
 * prints the URL and `ps` shows flags, and the table takes credentials only from files.
 */
const storeTarget: ValueType<string> = {
  metavar: '<url|file>',
  parse: (raw, name) => {
    const value = text('<url|file>').parse(raw, name);
    if (!isPostgresUrl(value)) return value;
    let parsed: URL;
    try {
      parsed = new URL(value);
    } catch {
      // Not echoed: an unparseable URL may still hold a password.
      throw new ConfigError(`${name} must be a postgres://USER@HOST:PORT/DB URL or a SQLite file; this URL does not parse`);
    }
    if (parsed.password || parsed.searchParams.has('password')) {
      throw new ConfigError(
        `${name} must not carry a password (--print-config and ps would show it): put it in a passfile (PGPASSFILE, ~/.pgpass) or the PGPASSWORD variable`,
      );
    }
    return value;
  },
  format: (value) => value,
};

export interface ClusterSecretFile {
  readonly file: string;
  /** The HMAC key of the edge-to-edge link (docs/SECURITY.md), as the file holds it, trimmed. */
  readonly secret: string;
}

/** A file holding the cluster secret: read once, trimmed, at least MIN_CLUSTER_SECRET_BYTES. */
const clusterSecretFile: ValueType<ClusterSecretFile> = {
  metavar: '<file>',
  parse: (raw, name) => {
    const file = text('<file>').parse(raw, name);
    const secret = readConfigFile(file, name).trim();
    const bytes = Buffer.byteLength(secret);
    if (bytes < MIN_CLUSTER_SECRET_BYTES) {
      throw new ConfigError(`${name} ${file} holds ${bytes} bytes; a cluster secret needs at least ${MIN_CLUSTER_SECRET_BYTES} (e.g. openssl rand -hex 32 > ${file})`);
    }
    return Object.freeze({ file, secret });
  },
  format: (value) => value.file,
};

/** The rows of several edges on one PostgreSQL (docs/SCALING.md); settings.ts spreads them in. */
export const CLUSTER_SETTINGS = {
  store: setting({
    value: storeTarget,
    group: 'edge',
    default: ({ settings }) => (settings.db as string | undefined) ?? './postern.db',
    defaultHelp: 'the --db file',
    help: 'postgres://USER@HOST:PORT/DB (several edges, password from PGPASSFILE or PGPASSWORD) or a SQLite file',
  }),
  clusterSecretFile: setting({
    value: clusterSecretFile,
    group: 'edge',
    secret: true,
    help: `file holding the secret edges authenticate each other with (${MIN_CLUSTER_SECRET_BYTES}+ bytes; required with PostgreSQL)`,
  }),
  advertise: setting({ value: url, group: 'edge', help: 'where the other edges reach this one, e.g. http://10.0.0.5:8080 (required with PostgreSQL)' }),
} as const;
