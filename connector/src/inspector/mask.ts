/** Headers that carry a credential or who the user is, whatever socket they come from. */
const ALWAYS_MASKED = ['cookie', 'set-cookie', 'authorization', 'proxy-authorization', 'x-postern-assertion'] as const;

/**
 * Which header values the inspector hides: cookies, credentials, the signed assertion and the
 * socket's identity headers (their names are per socket). Values stay whole in memory: a replay
 * sends the app what it received.
 */
export class HeaderMask {
  private readonly names: ReadonlySet<string>;

  constructor(identityHeaders: readonly string[], private readonly enabled = true) {
    this.names = new Set([...ALWAYS_MASKED, ...identityHeaders.map((n) => n.toLowerCase())]);
  }

  masks(name: string): boolean {
    return this.enabled && this.names.has(name.toLowerCase());
  }

  /** The field list as the page shows it: [name, value, masked] for each field. */
  show(fields: readonly string[]): HeaderView[] {
    const out: HeaderView[] = [];
    for (let i = 0; i < fields.length; i += 2) {
      const name = fields[i]!;
      const value = fields[i + 1]!;
      out.push(this.masks(name) ? { name, value: `•••• masked (${value.length} characters)`, masked: true } : { name, value, masked: false });
    }
    return out;
  }
}

export interface HeaderView {
  readonly name: string;
  readonly value: string;
  readonly masked: boolean;
}

/** The value of the first field called `name` (lower-case) in a field list. */
export function field(fields: readonly string[], name: string): string | undefined {
  for (let i = 0; i < fields.length; i += 2) if (fields[i]!.toLowerCase() === name) return fields[i + 1];
  return undefined;
}
