/**
 * The peer's FIN reaches a MuxStream's consumer as 'end' only after the consumer took every byte and
 * asked for more: a consumer paused on the last bytes (undici's HTTP parser under backpressure)
 * must not be told the stream ended (see MuxStream.handleFin).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { MuxStream, type StreamHost } from '../src/stream.js';

const host: StreamHost = {
  rttMs: 1,
  markSendable: () => undefined,
  sendWindowUpdate: () => undefined,
  sendReset: () => undefined,
  onStreamClosed: () => undefined,
  violation: (_code, message) => assert.fail(message),
};

const newStream = (): MuxStream => new MuxStream(1, 'http', host, 256 * 1024, 256 * 1024, 1024 * 1024, false);

describe('MuxStream: FIN after buffered bytes', () => {
  it('no "end" while the consumer is paused on the last bytes; "end" once it reads on', async () => {
    // Reads like undici's HTTP/1.1 parser: on 'readable', read until null unless paused.
    const stream = newStream();
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
    stream.handleData(Buffer.from('last bytes'));
    stream.handleFin();
    await tick();
    await tick();
    assert.deepEqual(taken, ['last bytes']);
    assert.equal(ended, false);
    paused = false;
    readMore();
    await once(stream, 'end');
  });

  it('a FIN on an empty buffer ends a waiting reader at once', async () => {
    const stream = newStream();
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.handleData(Buffer.from('abc'));
    await tick();
    stream.handleFin();
    await once(stream, 'end');
    assert.equal(Buffer.concat(chunks).toString(), 'abc');
  });

  it('a flowing reader gets every byte, then "end"', async () => {
    const stream = newStream();
    stream.handleData(Buffer.from('one '));
    stream.handleData(Buffer.from('two'));
    stream.handleFin();
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    await once(stream, 'end');
    assert.equal(Buffer.concat(chunks).toString(), 'one two');
  });

  it('async iteration ends after the last chunk', async () => {
    const stream = newStream();
    stream.handleData(Buffer.from('x'.repeat(1000)));
    stream.handleFin();
    let total = 0;
    for await (const chunk of stream) total += (chunk as Buffer).length;
    assert.equal(total, 1000);
  });
});
