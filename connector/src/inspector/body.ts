/** The first bytes of a body, as many as the capture limit allows, and its full size. */
export class BodyCapture {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  /** Every byte that passed, kept or not. */
  size = 0;

  constructor(private readonly limit: number) {}

  add(chunk: Buffer): void {
    this.size += chunk.length;
    const room = this.limit - this.kept;
    if (room <= 0) return;
    // A copy: a slice would keep the whole tunnel frame (or socket read) it came from alive.
    const part = Buffer.from(chunk.subarray(0, room));
    this.chunks.push(part);
    this.kept += part.length;
  }

  /** The bytes kept and whether that is all of the body. */
  finish(): CapturedBody {
    return { bytes: this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.kept), size: this.size };
  }
}

export interface CapturedBody {
  /** The first bytes, up to the capture limit. */
  readonly bytes: Buffer;
  /** The body's whole size. */
  readonly size: number;
}

export const NO_BODY: CapturedBody = { bytes: Buffer.alloc(0), size: 0 };

/** How a body is shown: text as it is, JSON pretty-printed, anything else as its size and first bytes in hex. */
export type BodyView =
  | { readonly kind: 'none' }
  | { readonly kind: 'text' | 'json'; readonly text: string; readonly size: number; readonly truncated: boolean }
  | { readonly kind: 'binary'; readonly hex: string; readonly size: number; readonly truncated: boolean; readonly note?: string };

/** Bytes of a binary body shown in hex. */
export const HEX_HEAD_BYTES = 64;

const TEXT_TYPES = /^(text\/|application\/(json|[\w.+-]+\+json|xml|[\w.+-]+\+xml|javascript|ecmascript|x-www-form-urlencoded|x-ndjson|graphql|yaml|x-yaml|toml))/i;
const JSON_TYPES = /^application\/(json|[\w.+-]+\+json)\b/i;
/** C0 controls other than tab, LF, CR, and DEL: bytes a text body does not hold. */
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

/** The view of a body given its Content-Type and Content-Encoding (either may be absent). */
export function viewBody(body: CapturedBody, contentType: string | undefined, contentEncoding: string | undefined): BodyView {
  if (body.size === 0) return { kind: 'none' };
  const truncated = body.bytes.length < body.size;
  const encoding = contentEncoding?.trim().toLowerCase();
  if (encoding && encoding !== 'identity') return binary(body, truncated, `${encoding}-encoded`);
  const type = contentType?.trim() ?? '';
  if (type !== '' && !TEXT_TYPES.test(type)) return binary(body, truncated);
  const text = decodeUtf8(body.bytes, truncated);
  if (text === undefined || CONTROL.test(text)) return binary(body, truncated);
  if (JSON_TYPES.test(type) && !truncated) {
    try {
      return { kind: 'json', text: JSON.stringify(JSON.parse(text), null, 2), size: body.size, truncated };
    } catch {
      // Not valid JSON after all: shown as the text it is.
    }
  }
  return { kind: 'text', text, size: body.size, truncated };
}

function binary(body: CapturedBody, truncated: boolean, note?: string): BodyView {
  return { kind: 'binary', hex: hexHead(body.bytes), size: body.size, truncated, ...(note ? { note } : {}) };
}

/** `48 54 54 50 …`, 16 bytes a line. */
export function hexHead(bytes: Buffer): string {
  const lines: string[] = [];
  const head = bytes.subarray(0, HEX_HEAD_BYTES);
  for (let i = 0; i < head.length; i += 16) lines.push(head.subarray(i, i + 16).toString('hex').replace(/(..)(?!$)/g, '$1 '));
  return lines.join('\n');
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/** UTF-8 text, or undefined when the bytes are not; a cut body may end in the middle of a character. */
function decodeUtf8(bytes: Buffer, truncated: boolean): string | undefined {
  for (let cut = 0; cut <= (truncated ? 3 : 0) && cut <= bytes.length; cut++) {
    try {
      return decoder.decode(bytes.subarray(0, bytes.length - cut));
    } catch {
      // try a shorter end
    }
  }
  return undefined;
}
