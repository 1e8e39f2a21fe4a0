import { CliError } from '../errors.js';

/** Where a unit lives: the system's service manager (root) or the user's (`systemctl --user`). */
export type Scope = 'system' | 'user';

/** A service name: it becomes `postern-<name>.service` and a file name, so a safe subset only. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

export function checkServiceName(name: string): string {
  if (!NAME.test(name)) throw new CliError(`--name must be 1-63 letters, digits, ".", "_" or "-" (starting with a letter or digit), not "${name}"`);
  return name;
}

export const unitName = (name: string): string => `postern-${name}.service`;

/**
 * One word of an ExecStart= line. systemd splits on whitespace, honours quotes and C escapes,
 * expands `%` specifiers and `$VAR`: each is escaped, so the program gets exactly `arg`.
 */
export function execWord(arg: string): string {
  const escaped = unitValue(arg).replace(/\$/g, '$$$$');
  return /^[A-Za-z0-9_@+=:,./%$-]+$/.test(escaped) ? escaped : quote(escaped);
}

/** A value in a unit file: `%` specifiers escaped; a line break would end the setting. */
function unitValue(value: string): string {
  if (/[\x00-\x1f\x7f]/.test(value)) throw new CliError(`a service's settings cannot hold control characters or line breaks: ${JSON.stringify(value)}`);
  return value.replace(/%/g, '%%');
}

const quote = (value: string): string => `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;

/** An Environment= line (no `$` expansion there, unlike ExecStart=). */
const environmentLine = (key: string, value: string): string => `Environment=${quote(unitValue(`${key}=${value}`))}`;

/** The marker line of a unit this command wrote, with what `service ls` shows (never the token). */
const MARKER = '# postern-service: ';

export interface ServiceRecord {
  readonly name: string;
  /** The postern command the unit runs, as given (without --edge and --token-file). */
  readonly command: readonly string[];
  readonly edge: string;
  /** Every edge, when the command was given several (`edge` is the first); absent in units of older versions. */
  readonly edges?: readonly string[];
  /** The token install made for this service (revoked by uninstall); null for a token the user gave. */
  readonly token_id: string | null;
}

export function readRecord(unitText: string): ServiceRecord | undefined {
  const line = unitText.split('\n').find((l) => l.startsWith(MARKER));
  if (!line) return undefined;
  try {
    return JSON.parse(line.slice(MARKER.length)) as ServiceRecord;
  } catch {
    return undefined;
  }
}

export interface UnitSpec {
  readonly record: ServiceRecord;
  readonly scope: Scope;
  readonly version: string;
  /** How to start postern here: [node, script] or [the single binary]. */
  readonly executable: readonly string[];
  /** The file holding the token (0600). The system unit passes it with LoadCredential=. */
  readonly tokenFile: string;
  /** How long a stop may take: the connector's --grace and a margin. */
  readonly stopTimeoutSeconds: number;
  readonly environment: Readonly<Record<string, string>>;
}

/**
 * Confinement of a system connector, as deploy/systemd/postern-connector@.service has it: a
 * throw-away user, a read-only system, no home directories, only the network families it uses.
 */
const SYSTEM_HARDENING = `DynamicUser=yes
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectClock=yes
ProtectHostname=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectProc=invisible
ProcSubset=pid
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
CapabilityBoundingSet=
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM`;

/** The unit file for one service. It names the token's file, never the token. */
export function renderUnit(spec: UnitSpec): string {
  const { record, scope } = spec;
  // The system unit reads the token as a credential (%d: the directory systemd puts it in, which
  // only the service's user can read); a user unit reads the user's own 0600 file.
  const tokenArg = scope === 'system' ? '%d/token' : execWord(spec.tokenFile);
  const edgeFlags = (record.edges ?? [record.edge]).flatMap((edge) => ['--edge', edge]);
  const exec = [...spec.executable, ...record.command, ...edgeFlags].map(execWord).concat('--token-file', tokenArg).join(' ');
  const environment = Object.entries(spec.environment).map(([key, value]) => environmentLine(key, value));
  return [
    `# Written by "postern service install" (postern ${spec.version}). Remove it with: postern service uninstall ${record.name}${scope === 'user' ? ' --user' : ''}`,
    `${MARKER}${JSON.stringify(record)}`,
    '[Unit]',
    `Description=Postern ${record.command[0]} ${record.name}`,
    'Wants=network-online.target',
    'After=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${exec}`,
    ...(scope === 'system' ? [`LoadCredential=token:${spec.tokenFile}`] : []),
    ...environment,
    '# SIGTERM: the connector tells the edge it is going away and lets in-flight requests finish.',
    'KillSignal=SIGTERM',
    `TimeoutStopSec=${spec.stopTimeoutSeconds}`,
    '# It retries a lost edge by itself and exits only on what a retry cannot fix (a revoked token).',
    'Restart=always',
    'RestartSec=10',
    ...(scope === 'system' ? [SYSTEM_HARDENING] : ['NoNewPrivileges=yes']),
    'UMask=0077',
    '',
    '[Install]',
    `WantedBy=${scope === 'system' ? 'multi-user.target' : 'default.target'}`,
    '',
  ].join('\n');
}
