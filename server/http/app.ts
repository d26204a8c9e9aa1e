// The HTTP side: security headers on every response (HSTS on HTTPS), /healthz, /metrics, and the client app with SPA fallback.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import express from 'express';
import helmet from 'helmet';
import type { Registry } from 'prom-client';

export const CONTENT_SECURITY_POLICY = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'", "'wasm-unsafe-eval'"],
  connectSrc: ["'self'"],
  imgSrc: ["'self'", 'data:'],
  mediaSrc: ["'self'", 'blob:'],
  workerSrc: ["'self'", 'blob:'],
  styleSrc: ["'self'"],
  fontSrc: ["'self'"],
  objectSrc: ["'none'"],
  baseUri: ["'none'"],
  frameAncestors: ["'none'"],
  formAction: ["'self'"],
};

/** One year, this host only: subdomains may be other services of the operator's that are not ready for HTTPS. */
export const HSTS = 'max-age=31536000';

export interface AppOptions {
  clientDir: string;
  registry: Registry;
  health: () => Record<string, unknown>;
  /** Proxies whose X-Forwarded-Proto is believed; by default none, so a client cannot claim HTTPS it does not have. */
  trustProxy?: string | null;
}

export function createApp(options: AppOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('trust proxy', options.trustProxy ?? false);
  app.use(
    helmet({
      contentSecurityPolicy: { useDefaults: false, directives: CONTENT_SECURITY_POLICY },
      referrerPolicy: { policy: 'no-referrer' },
      crossOriginOpenerPolicy: { policy: 'same-origin' },
      crossOriginEmbedderPolicy: { policy: 'require-corp' },
      crossOriginResourcePolicy: { policy: 'same-origin' },
      strictTransportSecurity: false,
    }),
  );
  app.use((req, res, next) => {
    // req.secure: the relay's own TLS, or X-Forwarded-Proto from a proxy named in TRUST_PROXY. Sent over plain
    // HTTP the header would be ignored by browsers anyway, and a forged one must not pin a host to HTTPS.
    if (req.secure) res.setHeader('Strict-Transport-Security', HSTS);
    res.setHeader('Permissions-Policy', 'microphone=(self), camera=(), geolocation=(), interest-cohort=()');
    next();
  });

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', ...options.health() });
  });
  app.get('/metrics', async (_req, res) => {
    res.setHeader('Content-Type', options.registry.contentType);
    res.send(await options.registry.metrics());
  });

  const index = join(options.clientDir, 'index.html');
  app.use(express.static(options.clientDir, { index: false, fallthrough: true, maxAge: '1h', setHeaders: (res, path) => {
    if (path.endsWith('.html')) res.setHeader('Cache-Control', 'no-store');
  } }));
  app.get(['/', '/r/{*rest}'], (_req, res) => {
    if (!existsSync(index)) {
      res.status(503).type('text/plain').send('The Teahouse client is not built. Run "npm run setup" (or "npm run build:client") and reload.\n');
      return;
    }
    res.setHeader('Cache-Control', 'no-store');
    res.sendFile(index);
  });
  app.use((_req, res) => {
    res.status(404).type('text/plain').send('Not found\n');
  });
  return app;
}
