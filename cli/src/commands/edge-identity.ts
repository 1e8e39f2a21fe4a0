import type { Command } from 'commander';
import type { OidcInput } from '@postern/edge';
import { ConfigError, defaultText, OIDC_SETTING_ROWS } from '@postern/edge/client';

/** A repeatable option's values, in order. */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** A row's help with its default, as --help and the README show it. */
export const withDefault = (row: Parameters<typeof defaultText>[0] & { readonly help: string }): string => {
  const fallback = defaultText(row);
  return fallback === undefined ? row.help : `${row.help} (default ${fallback})`;
};

const STARTS = OIDC_SETTING_ROWS.filter((row) => row.role === 'starts');
const POSITIONAL = OIDC_SETTING_ROWS.filter((row) => row.role === 'positional');
const SWITCHES = OIDC_SETTING_ROWS.filter((row) => row.role === 'switch');

/**
 * The per-issuer options of `postern edge`, made from the edge's OIDC settings table. Issuers are
 * numbered in command-line order whether given as `--oidc-issuer URL` or `--entra-tenant TID`; each
 * valued flag belongs to the issuer in the same position, each switch to the issuer it follows.
 * Returns what reads the parsed options into the issuers' settings.
 */
export function registerIssuerOptions(command: Command): (opts: Readonly<Record<string, unknown>>) => OidcInput[] | undefined {
  const issuers: Record<string, string | boolean>[] = [];
  const stray: string[] = [];
  for (const row of STARTS) {
    command.option(`${row.flag} ${row.value.metavar}`, row.help, collect);
    command.on(`option:${row.flag.slice(2)}`, (value: string) => issuers.push({ [row.key]: value }));
  }
  const positional = POSITIONAL.map((row) => ({ row, attribute: command.createOption(`${row.flag} ${row.value.metavar}`).attributeName() }));
  for (const { row } of positional) command.option(`${row.flag} ${row.value.metavar}`, `${withDefault(row)} (repeatable, by position)`, collect);
  for (const row of SWITCHES) {
    command.option(row.flag, `${row.help} (applies to the issuer it follows)`);
    command.on(`option:${row.flag.slice(2)}`, () => {
      const last = issuers[issuers.length - 1];
      if (last) last[row.key] = true;
      else stray.push(row.flag);
    });
  }
  return (opts) => {
    if (stray.length > 0) throw new ConfigError(`${stray[0]} must follow the --oidc-issuer (or --entra-tenant) it applies to`);
    for (const { row, attribute } of positional) {
      const values = (opts[attribute] as string[] | undefined) ?? [];
      if (values.length > issuers.length) throw new ConfigError(`${row.flag} is given ${values.length} times for ${issuers.length} issuer(s) (--oidc-issuer or --entra-tenant)`);
      values.forEach((value, i) => (issuers[i]![row.key] = value));
    }
    return issuers.length > 0 ? (issuers as OidcInput[]) : undefined;
  };
}
