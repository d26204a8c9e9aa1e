// Prometheus metrics on an address of their own (METRICS_HOST:METRICS_PORT, loopback by default): never the public port.
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

/** GET /metrics and nothing else; a failed collection is one code-free line of text, never a stack. */
export function createMetricsServer(registry: Registry, onError: (error: Error) => void): Server {
  return createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('Not found\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(text),
      (error: Error) => {
        onError(error);
        res.writeHead(500, { 'Content-Type': 'text/plain' }).end('metrics collection failed\n');
      },
    );
  });
}
