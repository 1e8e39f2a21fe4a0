import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { INITIAL_WINDOW, MAX_WINDOW, ReceiveWindow } from '../src/index.js';

/** The tables exercise growth over several doublings: an explicit cap, independent of the default. */
const TABLE_MAX = 8 * 1024 * 1024;

const KiB = 1024;
const MiB = 1024 * KiB;

describe('window: constants', () => {
  it('starts at 256 KiB and grows to at most 2 MiB', () => {
    assert.equal(INITIAL_WINDOW, 256 * KiB);
    assert.equal(MAX_WINDOW, 2 * MiB);
    const w = new ReceiveWindow();
    assert.equal(w.size, INITIAL_WINDOW);
    assert.equal(w.peerCredit, INITIAL_WINDOW);
    assert.equal(w.due, false);
  });
});

interface GrantCase {
  name: string;
  initial?: number;
  max?: number;
  /** Time of construction (= time of the last grant). */
  start?: number;
  consumed: number;
  now: number;
  buffered: number;
  rtt: number;
  /** null: no grant. */
  want: { increment: number; size: number } | null;
}

const GRANTS: GrantCase[] = [
  { name: 'nothing consumed', consumed: 0, now: 1000, buffered: 0, rtt: 10, want: null },
  { name: 'one byte below half a window', consumed: 128 * KiB - 1, now: 1000, buffered: 0, rtt: 10, want: null },
  {
    name: 'exactly half a window, slow consumer: grant what is owed',
    consumed: 128 * KiB,
    now: 1000,
    buffered: 0,
    rtt: 10,
    want: { increment: 128 * KiB, size: 256 * KiB },
  },
  {
    name: 'more than half owed: grant = owed',
    consumed: 200 * KiB,
    now: 1000,
    buffered: 0,
    rtt: 10,
    want: { increment: 200 * KiB, size: 256 * KiB },
  },
  {
    name: 'fast but bytes still buffered: no growth',
    consumed: 128 * KiB,
    now: 5,
    buffered: 1,
    rtt: 10,
    want: { increment: 128 * KiB, size: 256 * KiB },
  },
  {
    name: 'nothing buffered and within two round trips: the window doubles',
    consumed: 128 * KiB,
    now: 19,
    buffered: 0,
    rtt: 10,
    want: { increment: 128 * KiB + 256 * KiB, size: 512 * KiB },
  },
  {
    name: 'exactly two round trips is too slow to grow',
    consumed: 128 * KiB,
    now: 20,
    buffered: 0,
    rtt: 10,
    want: { increment: 128 * KiB, size: 256 * KiB },
  },
  {
    name: 'a round trip under 1 ms counts as 1 ms (grows within 2 ms)',
    consumed: 128 * KiB,
    now: 1.5,
    buffered: 0,
    rtt: 0.1,
    want: { increment: 384 * KiB, size: 512 * KiB },
  },
  {
    name: 'a round trip under 1 ms counts as 1 ms (no growth at 2 ms)',
    consumed: 128 * KiB,
    now: 2,
    buffered: 0,
    rtt: 0.1,
    want: { increment: 128 * KiB, size: 256 * KiB },
  },
  {
    name: 'growth is measured from construction for the first grant',
    start: 1000,
    consumed: 128 * KiB,
    now: 1019,
    buffered: 0,
    rtt: 10,
    want: { increment: 384 * KiB, size: 512 * KiB },
  },
  {
    name: 'growth is capped at the maximum',
    initial: 6 * MiB,
    consumed: 3 * MiB,
    now: 1,
    buffered: 0,
    rtt: 10,
    want: { increment: 3 * MiB + 2 * MiB, size: 8 * MiB },
  },
  {
    name: 'no growth at the maximum',
    initial: 8 * MiB,
    consumed: 4 * MiB,
    now: 1,
    buffered: 0,
    rtt: 10,
    want: { increment: 4 * MiB, size: 8 * MiB },
  },
  {
    name: 'a custom maximum is honoured',
    initial: 64 * KiB,
    max: 100 * KiB,
    consumed: 32 * KiB,
    now: 1,
    buffered: 0,
    rtt: 10,
    want: { increment: 32 * KiB + 36 * KiB, size: 100 * KiB },
  },
];

describe('window: grant decisions', () => {
  for (const c of GRANTS) {
    it(c.name, () => {
      const w = new ReceiveWindow(c.initial ?? INITIAL_WINDOW, c.max ?? TABLE_MAX, c.start ?? 0);
      const initial = w.size;
      assert.ok(w.receive(c.consumed));
      w.consume(c.consumed);
      assert.equal(w.due, c.consumed >= initial / 2);
      const grant = w.grant(c.now, c.buffered, c.rtt);
      assert.deepEqual(grant, c.want);
      assert.equal(w.size, c.want?.size ?? initial);
      // The peer's credit is what it had left plus the increment.
      assert.equal(w.peerCredit, initial - c.consumed + (c.want?.increment ?? 0));
      // After a grant nothing is owed.
      if (c.want) {
        assert.equal(w.due, false);
        assert.equal(w.grant(c.now, 0, c.rtt), null);
      }
    });
  }
});

describe('window: sequences', () => {
  it('accumulates what is owed across consumes until half a window', () => {
    const w = new ReceiveWindow(256 * KiB, TABLE_MAX, 0);
    w.receive(256 * KiB);
    const steps: Array<[consume: number, due: boolean]> = [
      [16 * KiB, false],
      [64 * KiB, false],
      [47 * KiB, false],
      [1 * KiB, true],
    ];
    for (const [bytes, due] of steps) {
      w.consume(bytes);
      assert.equal(w.due, due, `after consuming ${bytes}`);
    }
    assert.deepEqual(w.grant(1000, 10, 1), { increment: 128 * KiB, size: 256 * KiB });
  });

  it('a consumer that keeps up doubles the window at each grant until the maximum', () => {
    const w = new ReceiveWindow(INITIAL_WINDOW, TABLE_MAX, 0);
    const sizes: number[] = [];
    let now = 0;
    for (let i = 0; i < 10; i++) {
      const half = w.size / 2;
      assert.ok(w.receive(half));
      w.consume(half);
      now += 1; // well within 2 RTTs of 10 ms
      const g = w.grant(now, 0, 10);
      assert.ok(g);
      sizes.push(g.size);
    }
    assert.deepEqual(
      sizes.map((s) => s / KiB),
      [512, 1024, 2048, 4096, 8192, 8192, 8192, 8192, 8192, 8192],
    );
  });

  it('a slow consumer never grows the window', () => {
    const w = new ReceiveWindow(INITIAL_WINDOW, TABLE_MAX, 0);
    let now = 0;
    for (let i = 0; i < 20; i++) {
      assert.ok(w.receive(w.size / 2));
      w.consume(w.size / 2);
      now += 50; // slower than 2 RTTs of 10 ms
      assert.deepEqual(w.grant(now, 0, 10), { increment: 128 * KiB, size: 256 * KiB });
    }
  });

  it('a consumer that leaves bytes buffered never grows the window', () => {
    const w = new ReceiveWindow(INITIAL_WINDOW, TABLE_MAX, 0);
    for (let i = 1; i <= 20; i++) {
      assert.ok(w.receive(w.size / 2));
      w.consume(w.size / 2);
      assert.deepEqual(w.grant(i, 4096, 10), { increment: 128 * KiB, size: 256 * KiB });
    }
  });
});

describe('window: overrun detection', () => {
  interface OverrunCase {
    name: string;
    run: (w: ReceiveWindow) => void;
    /** Bytes the peer may still send without an overrun. */
    credit: number;
  }
  const CASES: OverrunCase[] = [
    { name: 'fresh window', run: () => {}, credit: 256 * KiB },
    { name: 'after receiving 100 KiB', run: (w) => void w.receive(100 * KiB), credit: 156 * KiB },
    {
      name: 'consumed but not granted: no new credit',
      run: (w) => {
        w.receive(100 * KiB);
        w.consume(100 * KiB);
      },
      credit: 156 * KiB,
    },
    {
      name: 'after a grant of 128 KiB',
      run: (w) => {
        w.receive(128 * KiB);
        w.consume(128 * KiB);
        w.grant(1000, 1, 1);
      },
      credit: 256 * KiB,
    },
    {
      name: 'after a grant that doubled the window',
      run: (w) => {
        w.receive(256 * KiB);
        w.consume(256 * KiB);
        w.grant(0.5, 0, 1);
      },
      credit: 512 * KiB,
    },
  ];
  for (const c of CASES) {
    it(`${c.name}: ${c.credit / KiB} KiB fit, one byte more overruns`, () => {
      const w = new ReceiveWindow(INITIAL_WINDOW, TABLE_MAX, 0);
      c.run(w);
      assert.equal(w.peerCredit, c.credit);
      assert.equal(w.receive(c.credit), true);
      assert.equal(w.peerCredit, 0);
      assert.equal(w.receive(0), true);
      assert.equal(w.receive(1), false);
      assert.equal(w.peerCredit, -1);
    });
  }

  it('an overrun in one large receive is detected', () => {
    const w = new ReceiveWindow(INITIAL_WINDOW, TABLE_MAX, 0);
    assert.equal(w.receive(INITIAL_WINDOW + 1), false);
  });
});
