/**
 * Where a reader of the change log is, allowing for the one way a sequence misleads: sequence
 * numbers are taken when a row is inserted but become visible when its transaction commits, so
 * change 11 can be read before change 10 commits. Reading only "after the highest seen" would lose
 * 10 forever. The cursor keeps `position` (every change at or below it handled) and the changes seen
 * above it; a missing number is waited for until `giveUpMs` after it was first noticed missing (a
 * rolled-back transaction leaves a hole that never fills).
 */
export class ChangeCursor {
  private readonly seenAbove = new Set<number>();
  /** When each range of missing numbers was noticed: numbers above the previous mark, up to `upTo`. */
  private marks: Array<{ upTo: number; at: number }> = [];
  private highest: number;

  constructor(
    private positionValue: number,
    private readonly giveUpMs: number,
  ) {
    this.highest = positionValue;
  }

  /** Every change at or below this has been handled: read from here on. */
  get position(): number {
    return this.positionValue;
  }

  /** Takes rows read after `position` (ascending by seq) and returns those not handled before. */
  accept<T extends { readonly seq: number }>(rows: readonly T[], now: number): T[] {
    const fresh: T[] = [];
    for (const row of rows) {
      if (row.seq <= this.positionValue || this.seenAbove.has(row.seq)) continue;
      this.seenAbove.add(row.seq);
      fresh.push(row);
      if (row.seq > this.highest) {
        if (row.seq > this.highest + 1) this.marks.push({ upTo: row.seq - 1, at: now });
        this.highest = row.seq;
      }
    }
    this.advance(now);
    return fresh;
  }

  private advance(now: number): void {
    // Holes noticed long enough ago are given up: everything up to the newest such mark is done.
    let giveUpTo = this.positionValue;
    for (const mark of this.marks) if (now - mark.at >= this.giveUpMs) giveUpTo = Math.max(giveUpTo, mark.upTo);
    if (giveUpTo > this.positionValue) {
      for (const seq of this.seenAbove) if (seq <= giveUpTo) this.seenAbove.delete(seq);
      this.positionValue = giveUpTo;
    }
    while (this.seenAbove.delete(this.positionValue + 1)) this.positionValue++;
    this.marks = this.marks.filter((mark) => mark.upTo > this.positionValue);
  }
}
