import type { SqlDriver } from '../store/sql/driver.js';

/** Who may run a job now. */
export interface JobLease {
  /** Takes or keeps the lease; false while another edge holds it. */
  acquire(): Promise<boolean>;
  release(): Promise<void>;
}

/**
 * A row per job name in `cluster_jobs`: the holder renews it, anyone takes it over once it has
 * expired on the database clock. One statement decides, so two edges can never both win.
 */
export class PostgresJobLease implements JobLease {
  constructor(
    private readonly db: SqlDriver,
    private readonly name: string,
    private readonly holder: string,
    private readonly ttlMs: number,
  ) {}

  async acquire(): Promise<boolean> {
    const won = await this.db.one(
      `INSERT INTO cluster_jobs (name, holder, expires_at) VALUES (?, ?, postern_now_ms() + ?)
       ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
       WHERE cluster_jobs.holder = excluded.holder OR cluster_jobs.expires_at <= postern_now_ms()
       RETURNING holder`,
      [this.name, this.holder, this.ttlMs],
    );
    return won !== undefined;
  }

  async release(): Promise<void> {
    await this.db.exec('DELETE FROM cluster_jobs WHERE name = ? AND holder = ?', [this.name, this.holder]);
  }
}

/** The only edge there is holds every job. */
export const soleHolder: JobLease = { acquire: async () => true, release: async () => undefined };

/**
 * Runs `work` every `everyMs` on whichever edge holds the job's lease (the reaper, pruning). A round
 * must end well within the lease's TTL, or a second edge may start one beside it.
 */
export class SingletonJob {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private current: Promise<void> = Promise.resolve();

  constructor(
    private readonly lease: JobLease,
    private readonly everyMs: number,
    private readonly work: () => Promise<void>,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {}

  start(): void {
    this.running = true;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.current;
    await this.lease.release().catch(this.onError);
  }

  /** Runs one round now (tests, and an edge that wants the work done at start). */
  tick(): Promise<void> {
    this.current = this.current.then(async () => {
      try {
        if (await this.lease.acquire()) await this.work();
      } catch (err) {
        this.onError(err);
      }
    });
    return this.current;
  }

  private schedule(delay: number): void {
    this.timer = setTimeout(() => {
      void this.tick().finally(() => {
        if (this.running) this.schedule(this.everyMs);
      });
    }, delay);
    this.timer.unref();
  }
}
