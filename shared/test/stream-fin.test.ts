/**
 * The peer's FIN reaches a byte stream's reader (a StreamDuplex) as 'end' only after the reader took
 * every byte and asked for more: a reader paused on the last bytes (undici's HTTP parser under
 * backpressure) must not be told the stream ended (see StreamDuplex.read).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { StreamDuplex } from '../src/stream-duplex.js';
import { MuxStream, type StreamHost } from '../src/stream.js';

const host: StreamHost = {
  rttMs: 1,
  markSendable: () => undefined,
  sendWindowUpdate: () => undefined,
  sendReset: () => undefined,
  onStreamClosed: () => undefined,
  violation: (_code, message) => assert.fail(message),
};

const windows = { peerInitial: 256 * 1024, localInitial: 256 * 1024, max: 1024 * 1024 };

/** A byte stream the peer opened, and what its reader sees; `data`/`fin` play the peer's frames. */
function newStream(): { reader: StreamDuplex; data: (text: string) => void; fin: () => void } {
  const mux = new MuxStream(2, 'tcp', host, windows, null, null, false);
  const reader = new StreamDuplex(mux);
  return { reader, data: (text) => mux.handleData(Buffer.from(text), false), fin: () => mux.handleFin() };
}

describe('StreamDuplex: FIN after buffered bytes', () => {
  it('no "end" while the consumer is paused on the last bytes; "end" once it reads on', async () => {
    // Reads like undici's HTTP/1.1 parser: on 'readable', read until null unless paused.
    const { reader: stream, data, fin } = newStream();
    let paused = false;
    let ended = false;
    const taken: string[] = [];
    const readMore = (): void => {
      while (!paused) {
        const chunk = stream.read() as Buffer | null;
        if (chunk === null) return;
        taken.push(String(chunk));
        paused = true; // backpressure on every chunk
      }
    };
    stream.on('readable', readMore);
    stream.on('end', () => {
      assert.equal(paused, false, '"end" while the consumer was paused');
      ended = true;
    });
    data('last bytes');
    fin();
    await tick();
    await tick();
    assert.deepEqual(taken, ['last bytes']);
    assert.equal(ended, false);
    paused = false;
    readMore();
    await once(stream, 'end');
  });

  it('a FIN on an empty buffer ends a waiting reader at once', async () => {
    const { reader: stream, data, fin } = newStream();
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    data('abc');
    await tick();
    fin();
    await once(stream, 'end');
    assert.equal(Buffer.concat(chunks).toString(), 'abc');
  });

  it('a flowing reader gets every byte, then "end"', async () => {
    const { reader: stream, data, fin } = newStream();
    data('one ');
    data('two');
    fin();
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    await once(stream, 'end');
    assert.equal(Buffer.concat(chunks).toString(), 'one two');
  });

  it('async iteration ends after the last chunk', async () => {
    const { reader: stream, data, fin } = newStream();
    data('x'.repeat(1000));
    fin();
    let total = 0;
    for await (const chunk of stream) total += (chunk as Buffer).length;
    assert.equal(total, 1000);
  });
});
