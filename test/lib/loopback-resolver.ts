/**
 * Loaded into client processes (connectors, the CLI) with `NODE_OPTIONS=--import=…`: names under
 * LOOPBACK_NAMES (e.g. `postern.test`) resolve to 127.0.0.1, as Chromium's --host-resolver-rules do
 * for the browser. Everything else goes to the real resolver. Node reads `dns.lookup` at every
 * connect (net, tls, undici, ws), so replacing it here covers them all.
 */
import dns, { type LookupAddress, type LookupOptions } from 'node:dns';

const suffix = (process.env.LOOPBACK_NAMES ?? '').toLowerCase();
const original = dns.lookup;

type Callback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

function loopbackLookup(hostname: string, options: LookupOptions | number | Callback, callback?: Callback): void {
  const cb = (typeof options === 'function' ? options : callback)!;
  const opts: LookupOptions = typeof options === 'number' ? { family: options } : typeof options === 'function' ? {} : options;
  const name = hostname.toLowerCase();
  if (suffix && (name === suffix || name.endsWith(`.${suffix}`))) {
    if (opts.all) process.nextTick(cb, null, [{ address: '127.0.0.1', family: 4 }]);
    else process.nextTick(cb, null, '127.0.0.1', 4);
    return;
  }
  (original as (h: string, o: LookupOptions, c: Callback) => void)(hostname, opts, cb);
}

(dns as { lookup: unknown }).lookup = loopbackLookup;
