import { unreachableReason } from '@postern/connector';
import { CliError } from './errors.js';

/** Node's and undici's codes for a connection that was never made: the request cannot have reached that edge. */
const NOT_CONNECTED: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'UND_ERR_CONNECT_TIMEOUT']);

/** Whether `err` says the connection was never made, so even a request that changes something may go to another edge. */
export const notConnected = (err: unknown): boolean => NOT_CONNECTED.has(String((err as { code?: unknown }).code));

/**
 * The edges of one cluster as the CLI's calls use them: the one that answered last (the first given
 * until then), then the others in order. Only a failure to reach an edge moves on; any answer, an
 * HTTP error included, is the cluster's answer.
 */
export class EdgeRoute {
  private preferred = 0;

  constructor(readonly urls: readonly string[]) {
    if (urls.length === 0) throw new Error('EdgeRoute needs at least one edge URL');
  }

  /** The edge that answered last, or the first one. */
  get current(): string {
    return this.urls[this.preferred]!;
  }

  /**
   * Runs `attempt` on each edge in turn until one answers. A CliError is an answer (thrown on); any
   * other error is a failure to reach that edge, tried elsewhere when `retriable` says so (see
   * notConnected). Failing everywhere is one line naming each edge and why.
   */
  async first<T>(attempt: (url: string) => Promise<T>, retriable: (err: unknown) => boolean): Promise<T> {
    const failures: string[] = [];
    const order = [this.preferred, ...this.urls.keys()].filter((index, at, all) => all.indexOf(index) === at);
    for (const index of order) {
      const url = this.urls[index]!;
      try {
        const result = await attempt(url);
        this.preferred = index;
        return result;
      } catch (err) {
        if (err instanceof CliError) throw err;
        failures.push(`${url}: ${unreachableReason(err)}`);
        if (!retriable(err)) break;
      }
    }
    throw new CliError(failures.length === 1 ? `cannot reach the edge at ${failures[0]!}` : `cannot reach any edge (${failures.join('; ')})`);
  }
}
