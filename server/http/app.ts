// The public HTTP side: security headers on every response (HSTS on HTTPS), liveness and readiness, the source link, and the client app with SPA fallback.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';
import helmet from 'helmet';

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

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** One year, this host only: subdomains may be other services of the operator's that are not ready for HTTPS. */
export const HSTS = 'max-age=31536000';

/** Whether the relay should be sent new connections, and if not, why (reasons name a cause, never a count). */
export interface Readiness {
  ready: boolean;
  reasons: string[];
}

export interface AppOptions {
  clientDir: string;
  readiness: () => Readiness;
  /** SOURCE_URL: where "Source" leads; null serves `git archive HEAD` of the running checkout. */
  sourceUrl?: string | null;
  /** Requests that fail inside the app: logged by name, answered without a stack. */
  onError?: (error: Error) => void;
  /** Proxies whose X-Forwarded-Proto is believed; by default none, so a client cannot claim HTTPS it does not have. */
  trustProxy?: string | null;
}

export function createApp(options: AppOptions): express.Express {
  const app = express();
  // Whatever NODE_ENV says: development mode puts stack traces, with install paths, in error pages.
  app.set('env', 'production');
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

  // Public, so they say nothing but the verdict: no room, member or worker counts (those are on the metrics address).
  // /livez: the process answers (a supervisor restarts it if not); /readyz: it should get new connections.
  const live = (_req: express.Request, res: express.Response) => {
    res.setHeader('Cache-Control', 'no-store');
    res.json({ status: 'ok' });
  };
  app.get('/livez', live);
  app.get('/healthz', live);
  app.get('/readyz', (_req, res) => {
    const { ready, reasons } = options.readiness();
    res.setHeader('Cache-Control', 'no-store');
    res.status(ready ? 200 : 503).json(ready ? { status: 'ready' } : { status: 'not ready', reasons });
  });
  // AGPL §13: every user of the page is offered the source of what runs here.
  app.get('/source', (_req, res) => {
    if (options.sourceUrl) return res.redirect(302, options.sourceUrl);
    const git = spawn('git', ['archive', '--format=tar.gz', '--prefix=teahouse/', 'HEAD'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'ignore'] });
    const chunks: Buffer[] = [];
    git.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    const unavailable = () => res.headersSent || res.status(503).type('text/plain').send('The source is not available here: ask the operator for it.\n');
    git.once('error', unavailable);
    git.once('close', (code) => {
      if (code !== 0) return unavailable();
      res.setHeader('Content-Disposition', 'attachment; filename="teahouse-source.tar.gz"');
      res.type('application/gzip').send(Buffer.concat(chunks));
    });
  });

  const index = join(options.clientDir, 'index.html');
  app.use(
    express.static(options.clientDir, {
      index: false,
      fallthrough: true,
      maxAge: '1h',
      setHeaders: (res, path) => {
        if (path.endsWith('.html')) res.setHeader('Cache-Control', 'no-store');
      },
    }),
  );
  // A room link gets the page that preloads the room's code (the client build writes it beside index.html).
  const roomPage = join(options.clientDir, 'room.html');
  app.get(['/', '/r/{*rest}'], (req, res) => {
    if (!existsSync(index)) {
      res.status(503).type('text/plain').send('The Teahouse client is not built. Run "npm run setup" (or "npm run build:client") and reload.\n');
      return;
    }
    res.setHeader('Cache-Control', 'no-store');
    res.sendFile(req.path !== '/' && existsSync(roomPage) ? roomPage : index);
  });
  app.use((_req, res) => {
    res.status(404).type('text/plain').send('Not found\n');
  });
  // Express's own handler would print the error (with install paths) to stderr and, outside production, the page.
  app.use((error: Error & { status?: number }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    const status = typeof error.status === 'number' && error.status >= 400 && error.status < 500 ? error.status : 500;
    if (status === 500) options.onError?.(error);
    if (res.headersSent) return res.end();
    res
      .status(status)
      .type('text/plain')
      .send(status === 500 ? 'Internal error\n' : 'Bad request\n');
  });
  return app;
}
