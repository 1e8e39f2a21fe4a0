import { MAX_HEAD_PAYLOAD, type OpenPreamble, type ResponseHead, type StreamKind } from './frame.js';

/**
 * OPEN and RESPONSE payloads (docs/PROTOCOL.md, section 4). A head is a field list: name and value
 * strings joined by NUL, in latin1, so each character is one byte, exactly as Node's and undici's
 * parsers hand header bytes over (obs-text 0x80-0xff included). NUL, CR and LF cannot occur in a
 * field an HTTP parser accepted, so the list needs no escaping. Leading fields whose name starts
 * with `:` are pseudo-fields (`:method`, `:target`, `:status`, as in HTTP/2); a receiver ignores
 * pseudo-fields it does not know, so later versions can add some. Measured against JSON for a
 * 1 KB browser request: encode 2.0 vs 5.9 µs, decode 1.7 vs 3.2 µs.
 *
 * Field names and values are checked by the HTTP stack that uses them, as for any HTTP message:
 * undici refuses an invalid request field before it reaches the app, the edge's node:http server
 * an invalid response field before it reaches the client (and the edge checks the fields of a 101
 * it writes itself). The decoder checks the structure, and that no value carries CR or LF.
 */
const SEPARATOR = '\0';

/** The first byte of an OPEN payload. */
const KIND_CODES: Readonly<Record<StreamKind, number>> = { http: 1, websocket: 2, tcp: 3 };
const KINDS: readonly (StreamKind | undefined)[] = [undefined, 'http', 'websocket', 'tcp'];

/** A method as RFC 9110 allows it (a token). */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Characters no field may hold once parsed (NUL cannot occur: it separates fields). */
const LINE_BREAK = /[\r\n]/;
/** Anything outside latin1 would be cut to its low byte by the encoding: refused instead. */
const NOT_LATIN1 = /[^\x00-\xff]/;

/** A head that cannot travel: too large, or holding characters a header cannot carry. */
export class HeadError extends Error {
  override readonly name = 'HeadError';
}

/** A payload that is not a valid head: the stream is reset with PROTOCOL_ERROR. */
export class MalformedHeadError extends Error {
  override readonly name = 'MalformedHeadError';
}

/** A head as latin1 text (one character per byte): what the writer copies into its message. */
function fieldsText(prefix: string, headers: readonly string[]): string {
  const text = headers.length > 0 ? prefix + SEPARATOR + headers.join(SEPARATOR) : prefix;
  if (NOT_LATIN1.test(text)) throw new HeadError('a header holds characters outside latin1');
  if (text.length > MAX_HEAD_PAYLOAD) throw new HeadError(`the head is ${text.length} bytes, more than the ${MAX_HEAD_PAYLOAD} a frame carries`);
  return text;
}

/** A decoded field list: pseudo-fields first (`pseudo` of them, as name/value pairs), then the headers. */
interface Fields {
  readonly fields: string[];
  /** Index of the first header (after the pseudo-fields). */
  readonly start: number;
}

/** Splits a field list; throws MalformedHeadError. */
function decodeFields(payload: Buffer, offset: number, what: string): Fields {
  const text = payload.toString('latin1', offset);
  if (LINE_BREAK.test(text)) throw new MalformedHeadError(`${what}: a field holds CR or LF`);
  const fields = text.split(SEPARATOR);
  if (fields.length % 2 !== 0) throw new MalformedHeadError(`${what}: an odd number of fields`);
  let start = 0;
  while (start < fields.length && fields[start]!.startsWith(':')) start += 2;
  return { fields, start };
}

/** The value of pseudo-field `name`, if present. */
function pseudoField({ fields, start }: Fields, name: string): string | undefined {
  for (let i = 0; i < start; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

const headersOf = ({ fields, start }: Fields): string[] => (start === 0 ? fields : fields.slice(start));

/**
 * The OPEN payload of a stream as latin1 text: its kind (the first character's code), and the
 * request head for http and websocket streams. Throws HeadError for a head that cannot travel.
 */
export function openText(preamble: OpenPreamble): string {
  const kind = String.fromCharCode(KIND_CODES[preamble.kind]);
  const socket = preamble.socket === undefined ? '' : `:socket${SEPARATOR}${preamble.socket}`;
  if (preamble.kind === 'tcp') return socket ? fieldsText(kind + socket, []) : kind;
  const { method, target, headers } = preamble.request;
  return fieldsText(`${kind}${socket && socket + SEPARATOR}:method${SEPARATOR}${method}${SEPARATOR}:target${SEPARATOR}${target}`, headers);
}

export const encodeOpen = (preamble: OpenPreamble): Buffer => Buffer.from(openText(preamble), 'latin1');

/** Decodes an OPEN payload; throws MalformedHeadError for a kind or head this side cannot read. */
export function decodeOpen(payload: Buffer): OpenPreamble {
  const kind = KINDS[payload[0]!];
  if (!kind) throw new MalformedHeadError(`unknown stream kind ${payload[0]}`);
  if (kind === 'tcp') {
    if (payload.length === 1) return { kind };
    const socket = socketField(decodeFields(payload, 1, 'tcp preamble'));
    return socket === undefined ? { kind } : { kind, socket };
  }
  const head = decodeFields(payload, 1, 'request head');
  const method = pseudoField(head, ':method');
  const target = pseudoField(head, ':target');
  if (!method || !TOKEN.test(method)) throw new MalformedHeadError('request head: missing or invalid :method');
  if (!target || target.includes(' ')) throw new MalformedHeadError('request head: missing or invalid :target');
  const request = { method, target, headers: headersOf(head) };
  const socket = socketField(head);
  return socket === undefined ? { kind, request } : { kind, request, socket };
}

/** The `:socket` pseudo-field (edge-to-edge streams), if present; an empty one is malformed. */
function socketField(fields: Fields): string | undefined {
  const socket = pseudoField(fields, ':socket');
  if (socket === '') throw new MalformedHeadError('stream preamble: empty :socket');
  return socket;
}

/** A RESPONSE payload as latin1 text. Throws HeadError for a head that cannot travel. */
export function responseText(head: ResponseHead): string {
  return fieldsText(`:status${SEPARATOR}${head.status}`, head.headers);
}

export const encodeResponse = (head: ResponseHead): Buffer => Buffer.from(responseText(head), 'latin1');

/** Decodes a RESPONSE payload; throws MalformedHeadError. */
export function decodeResponse(payload: Buffer): ResponseHead {
  const head = decodeFields(payload, 0, 'response head');
  const status = Number(pseudoField(head, ':status'));
  if (!Number.isInteger(status) || status < 100 || status > 999) throw new MalformedHeadError('response head: missing or invalid :status');
  return { status, headers: headersOf(head) };
}
