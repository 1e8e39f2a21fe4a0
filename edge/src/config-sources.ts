import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigError, type RawValue } from './config-values.js';
import type { SettingNames } from './setting.js';
import { EDGE_SETTING_ROWS, OIDC_SETTING_ROWS, type EdgeSettingKey } from './settings.js';
import type { OidcSettingKey } from './settings-identity.js';

/**
 * The three places edge settings come from, each read into the same shape: text (or lists of
 * text) by setting key, the OIDC issuers as a list of such entries, and how the source names a
 * setting in an error. Nothing is parsed here: config.ts runs each value through its row's parser.
 */

/** Settings as a program or the command line gives them (switches as booleans). */
export type SettingsInput = { readonly [K in EdgeSettingKey]?: RawValue | boolean | undefined } & { readonly oidc?: readonly OidcInput[] | undefined };
export type OidcInput = { readonly [K in OidcSettingKey]?: RawValue | boolean | undefined };

type Values = Readonly<Record<string, RawValue>>;

export interface SettingsSource {
  readonly values: Values;
  /** The issuers this source lists; undefined when it lists none. */
  readonly oidc: readonly Values[] | undefined;
  /** How an error names a setting from this source: `--listen`, `POSTERN_LISTEN`, `edge.yaml: listen`. */
  name(setting: SettingNames): string;
  /** The same for a setting of issuer `index` (0-based). */
  issuerName(setting: SettingNames, index: number): string;
}

export const isSource = (value: SettingsInput | SettingsSource): value is SettingsSource => typeof (value as SettingsSource).name === 'function';

function texts(input: Readonly<Record<string, RawValue | boolean | undefined>>): Values {
  const out: Record<string, RawValue> = {};
  for (const [key, value] of Object.entries(input)) {
    if (value !== undefined) out[key] = typeof value === 'boolean' ? String(value) : value;
  }
  return out;
}

/** Flags (and settings a program passes, such as `postern demo`'s): named by their flags. */
export function settingsFromInput(input: SettingsInput): SettingsSource {
  const { oidc, ...values } = input;
  const issuers = oidc?.map(texts);
  return {
    values: texts(values),
    oidc: issuers && issuers.length > 0 ? issuers : undefined,
    name: (setting) => setting.flag,
    issuerName: (setting, index) => (issuers && issuers.length > 1 ? `${setting.flag} (issuer ${index + 1})` : setting.flag),
  };
}

/** POSTERN_* variables: the only place the edge looks at the environment. An empty variable is not set. */
export function settingsFromEnv(env: NodeJS.ProcessEnv): SettingsSource {
  const read = (rows: readonly SettingNames[]): Values => Object.fromEntries(rows.flatMap((row) => (env[row.env] ? [[row.key, env[row.env]!]] : [])));
  const issuer = read(OIDC_SETTING_ROWS);
  return {
    values: read(EDGE_SETTING_ROWS),
    // One issuer at most: more go in flags or the YAML file.
    oidc: Object.keys(issuer).length > 0 ? [issuer] : undefined,
    name: (setting) => setting.env,
    issuerName: (setting) => setting.env,
  };
}

const byYaml = (rows: readonly SettingNames[]): ReadonlyMap<string, string> => new Map(rows.map((row) => [row.yaml, row.key]));
const EDGE_YAML_KEYS = byYaml(EDGE_SETTING_ROWS);
const OIDC_YAML_KEYS = byYaml(OIDC_SETTING_ROWS);

/** `key:` with nothing after it, `~` or `null`: the setting is left at its default. */
const UNSET = new Set(['', '~', 'null']);

/** A YAML mapping's settings: each a text or a list of texts, by setting key. */
function mappingValues(doc: unknown, keys: ReadonlyMap<string, string>, where: string, skip?: string): Values {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new ConfigError(`${where} must be a YAML mapping`);
  const out: Record<string, RawValue> = {};
  for (const [yamlKey, value] of Object.entries(doc)) {
    if (yamlKey === skip) continue;
    const key = keys.get(yamlKey);
    if (!key) throw new ConfigError(`${where}: unknown key "${yamlKey}" (known: ${[...keys.keys(), ...(skip ? [skip] : [])].join(', ')})`);
    if (typeof value === 'string') {
      if (!UNSET.has(value.trim())) out[key] = value;
    } else if (Array.isArray(value) && value.every((item) => typeof item === 'string')) {
      out[key] = value as string[];
    } else {
      throw new ConfigError(`${where}: ${yamlKey} must be a value or a list of values, not ${Array.isArray(value) ? 'a list of lists or mappings' : 'a mapping'}`);
    }
  }
  return out;
}

/**
 * The edge's YAML file: snake_case keys, `oidc` a list of issuers. It is read with YAML's failsafe
 * schema, so every value is the text it is written with: `false` and `"false"`, `30` and `"30"`
 * mean the same, and what a value means is its row's parser's to say, as for flags and variables.
 */
export function settingsFromFile(path: string): SettingsSource {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(path, 'utf8'), { schema: 'failsafe' });
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let values: Values = {};
  let oidc: Values[] | undefined;
  if (doc !== null && doc !== undefined && doc !== '') {
    values = mappingValues(doc, EDGE_YAML_KEYS, path, 'oidc');
    const issuers = (doc as Record<string, unknown>).oidc;
    if (issuers !== undefined && issuers !== '') {
      if (!Array.isArray(issuers)) throw new ConfigError(`${path}: oidc must be a list of {issuer, client_id, client_secret_file, name, …}`);
      oidc = issuers.map((entry: unknown, i) => mappingValues(entry, OIDC_YAML_KEYS, `${path}: oidc entry ${i + 1}`));
    }
  }
  return {
    values,
    oidc: oidc && oidc.length > 0 ? oidc : undefined,
    name: (setting) => `${path}: ${setting.yaml}`,
    issuerName: (setting, index) => `${path}: oidc entry ${index + 1}: ${setting.yaml}`,
  };
}
