import type { ValueType } from './config-values.js';

/**
 * One row of the edge's settings table: how it is parsed, its default, its help and, where they do
 * not follow from the key, its names. From the key `upstreamTimeout` come the flag
 * `--upstream-timeout`, the variable `POSTERN_UPSTREAM_TIMEOUT` and the YAML key `upstream_timeout`.
 */
export interface SettingSpec<T> {
  readonly value: ValueType<T>;
  readonly help: string;
  /** The README section the row is listed under. */
  readonly group: string;
  /**
   * Text parsed like any source's, or, when the default follows from other settings, a function of
   * them (run after every row with a fixed default).
   */
  readonly default?: string | ComputedDefault;
  /** The default in words, where it is computed or where a missing value means a built-in one. */
  readonly defaultHelp?: string;
  readonly flag?: string;
  readonly env?: string;
  readonly yaml?: string;
  /** The flag may be given several times, each adding to the list. */
  readonly repeatable?: true;
  /** The value names a file whose content is a credential: only the path is ever printed. */
  readonly secret?: true;
}

/** What a computed default may look at: settings already resolved, and how many sign-in providers are set. */
export type ComputedDefault = (known: { readonly settings: Readonly<Record<string, unknown>>; readonly providers: number }) => string;

/** Keeps a row's literal type (so the settings' types follow from the table). */
export const setting = <const S extends SettingSpec<unknown>>(spec: S): S => spec;

/** The names a setting has in each source. */
export interface SettingNames {
  readonly key: string;
  readonly flag: string;
  readonly env: string;
  readonly yaml: string;
}

const words = (key: string): string[] => key.replace(/[A-Z]/g, (c) => ` ${c.toLowerCase()}`).split(' ');

/** The names of `key` in a table whose flags start with `flagPrefix` and variables with `envPrefix`. */
function settingNames(key: string, spec: Pick<SettingSpec<unknown>, 'flag' | 'env' | 'yaml'>, flagPrefix = '--', envPrefix = 'POSTERN_'): SettingNames {
  const parts = words(key);
  return {
    key,
    flag: spec.flag ?? `${flagPrefix}${parts.join('-')}`,
    env: spec.env ?? `${envPrefix}${parts.join('_').toUpperCase()}`,
    yaml: spec.yaml ?? parts.join('_'),
  };
}

export type SettingRow<S extends SettingSpec<unknown> = SettingSpec<unknown>> = S & SettingNames;

/** A table's rows with their names, in declaration order. */
export function rowsOf<S extends SettingSpec<unknown>>(table: Readonly<Record<string, S>>, flagPrefix?: string, envPrefix?: string): readonly SettingRow<S>[] {
  return Object.entries(table).map(([key, spec]) => Object.freeze({ ...spec, ...settingNames(key, spec, flagPrefix, envPrefix) }));
}

/** The default as --help and the README say it: the computed one in words, or the text. */
export const defaultText = (spec: SettingSpec<unknown>): string | undefined =>
  spec.defaultHelp ?? (typeof spec.default === 'string' && spec.default !== '' ? spec.default : undefined);
