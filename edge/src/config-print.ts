import { stringify } from 'yaml';
import type { EdgeConfig } from './config.js';
import type { PrintedValue } from './config-values.js';
import type { SettingRow } from './setting.js';
import { EDGE_SETTING_ROWS, OIDC_SETTING_ROWS } from './settings.js';

/** A mapping of every row that has a value, in the table's order and its YAML keys. */
function printed(rows: readonly SettingRow[], values: Readonly<Record<string, unknown>>): Record<string, PrintedValue> {
  return Object.fromEntries(rows.flatMap((row) => (values[row.key] === undefined ? [] : [[row.yaml, row.value.format(values[row.key])]])));
}

/**
 * The effective configuration (`postern edge --print-config`): every setting in the YAML file's
 * keys, so the output is a config file that gives the same configuration back. Secrets are never
 * printed: Postern reads them only from files, and the settings show those files' paths.
 */
export function printConfig(config: EdgeConfig): string {
  const { oidc, ...settings } = config.settings;
  const doc = { ...printed(EDGE_SETTING_ROWS, settings), ...(oidc.length > 0 ? { oidc: oidc.map((issuer) => printed(OIDC_SETTING_ROWS, issuer)) } : {}) };
  const edgeUrl = `${config.publicScheme}://${config.domain}`;
  return `# effective Postern edge configuration (secrets stay in their files; redirect URI ${edgeUrl}/auth/callback, back-channel logout URI ${edgeUrl}/auth/backchannel-logout)\n${stringify(doc)}`;
}
