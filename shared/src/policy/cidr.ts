import { isIPv4, isIPv6 } from 'node:net';

/** An address as bytes: 4 for IPv4, 16 for IPv6. IPv4-mapped IPv6 (`::ffff:10.0.0.1`) is IPv4. */
export function parseAddress(text: string): Uint8Array | null {
  const address = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  if (isIPv4(address)) return Uint8Array.from(address.split('.').map(Number));
  if (!isIPv6(address) || address.includes('%')) return null;
  const bytes = ipv6Bytes(address);
  const mapped = bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  return mapped ? bytes.slice(12) : bytes;
}

function ipv6Bytes(address: string): Uint8Array {
  let text = address;
  const tail: number[] = [];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    tail.push(...v4[1]!.split('.').map(Number));
    text = `${text.slice(0, -v4[1]!.length)}0:0`; // two placeholder groups, overwritten below
  }
  const [head = '', rest] = text.split('::');
  const groupsOf = (s: string) => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const left = groupsOf(head);
  const right = rest === undefined ? [] : groupsOf(rest);
  const groups = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[i * 2] = g >> 8;
    bytes[i * 2 + 1] = g & 0xff;
  });
  if (tail.length === 4) bytes.set(tail, 12);
  return bytes;
}

function formatAddress(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join('.');
  const groups = Array.from({ length: 8 }, (_, i) => ((bytes[i * 2]! << 8) | bytes[i * 2 + 1]!).toString(16));
  // The WHATWG URL serialiser writes the RFC 5952 form (longest zero run compressed, lower case).
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

export class CidrError extends Error {}

interface Network {
  readonly bytes: Uint8Array;
  readonly prefix: number;
}

function parseCidr(raw: string): Network {
  const text = raw.trim();
  const [address = '', prefixText, extra] = text.split('/');
  const bytes = parseAddress(address);
  if (!bytes || extra !== undefined || address.startsWith('[')) throw new CidrError('is not an IP address or CIDR block (write 10.0.0.0/8 or 2001:db8::/32)');
  const bits = bytes.length * 8;
  // A mapped address written as IPv6 keeps its IPv6 prefix length: ::ffff:10.0.0.0/104 is 10.0.0.0/8.
  const mappedOffset = bytes.length === 4 && isIPv6(address) ? 96 : 0;
  const prefix = prefixText === undefined ? bits : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) - mappedOffset : NaN;
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > bits) throw new CidrError(`has a prefix length outside 0-${bits + mappedOffset}`);
  return { bytes: mask(bytes, prefix), prefix };
}

function mask(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  for (let i = 0; i < out.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    out[i]! &= (0xff << (8 - keep)) & 0xff;
  }
  return out;
}

/** `10.1.2.3/8` → `10.0.0.0/8`, `10.0.0.1` → `10.0.0.1/32`, IPv6 in its RFC 5952 spelling. */
export function normaliseCidr(raw: string): string {
  const { bytes, prefix } = parseCidr(raw);
  return `${formatAddress(bytes)}/${prefix}`;
}

/** A matcher for a list of normalised CIDR blocks. */
export function compileCidrs(cidrs: readonly string[]): (address: Uint8Array) => boolean {
  const networks = cidrs.map(parseCidr);
  return (address) => networks.some((n) => contains(n, address));
}

function contains(network: Network, address: Uint8Array): boolean {
  if (network.bytes.length !== address.length) return false;
  for (let i = 0, bits = network.prefix; bits > 0; i++, bits -= 8) {
    const m = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((address[i]! & m) !== network.bytes[i]) return false;
  }
  return true;
}
