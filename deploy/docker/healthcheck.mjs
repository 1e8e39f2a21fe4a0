// Docker HEALTHCHECK: GET /healthz on the edge's own name (the edge routes by Host), plain HTTP.
import { get } from 'node:http';

const port = Number((process.env.POSTERN_LISTEN ?? '0.0.0.0:8080').split(':').pop());
const host = process.env.POSTERN_DOMAIN ?? `localhost:${port}`;
const req = get({ host: '127.0.0.1', port, path: '/healthz', headers: { host }, timeout: 4000 }, (res) => {
  res.resume();
  process.exit(res.statusCode === 200 ? 0 : 1);
});
req.on('timeout', () => req.destroy(new Error('timeout')));
req.on('error', () => process.exit(1));
