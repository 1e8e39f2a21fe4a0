/** One holder at a time, others queued in arrival order (the SQLite driver's single connection). */
export class Mutex {
  private tail: Promise<void> = Promise.resolve();
  private held = false;

  get locked(): boolean {
    return this.held;
  }

  /** Resolves when the caller holds the mutex; call the returned release exactly once. */
  async acquire(): Promise<() => void> {
    const previous = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((resolve) => {
      release = () => {
        this.held = false;
        resolve();
      };
    });
    await previous;
    this.held = true;
    return release;
  }
}
