// Service worker: keeps the app shell (the page and its hashed scripts) so a room link opens without the network for the page itself.
// It never sees a room secret (a link's fragment is not part of any request) and never stores relay answers: only
// GET requests for the page and for /assets/, /icon-*, /manifest.*, /favicon.svg of this origin pass through a cache.
const SHELL = 'teahouse-shell-v1';

/** Static files the page may ask for; everything else (socket.io, /healthz, /metrics) goes to the network untouched. */
const STATIC = /^\/(assets\/[\w.-]+|icon-[\w-]+\.png|manifest\.[\w-]+\.webmanifest|favicon\.svg)$/;

/** The page, then every hashed file its scripts name (chunks, the E2EE Worker, libsodium), found by reading them. */
async function precache() {
  const cache = await caches.open(SHELL);
  const page = await fetch('/', { cache: 'no-store' });
  if (!page.ok) return;
  await cache.put('/', page.clone());
  const seen = new Set();
  const queue = [await page.text()];
  while (queue.length > 0 && seen.size < 64) {
    for (const [, path] of queue.shift().matchAll(/\/?(assets\/[\w.-]+\.(?:js|css|wasm))/g)) {
      if (seen.has(path)) continue;
      seen.add(path);
      const response = await fetch(`/${path}`);
      if (!response.ok) continue;
      await cache.put(`/${path}`, response.clone());
      if (path.endsWith('.js')) queue.push(await response.text());
    }
  }
}

self.addEventListener('install', (event) => {
  event.waitUntil(precache().then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== SHELL).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === 'navigate' && (url.pathname === '/' || url.pathname.startsWith('/r/'))) {
    // The network first, so a new release is seen at once; the kept page (one copy, stored under "/" whatever room
    // the link names) only when the network fails.
    event.respondWith(
      fetch(request).then(
        (response) => {
          if (response.ok) {
            const copy = response.clone();
            void caches.open(SHELL).then((cache) => cache.put('/', copy));
          }
          return response;
        },
        () => caches.match('/').then((kept) => kept ?? Response.error()),
      ),
    );
    return;
  }
  if (!STATIC.test(url.pathname)) return;
  // Hashed names never change content: the kept copy is the right one.
  event.respondWith(
    caches.match(url.pathname).then(
      (kept) =>
        kept ??
        fetch(request).then((response) => {
          if (response.ok) {
            const copy = response.clone();
            void caches.open(SHELL).then((cache) => cache.put(url.pathname, copy));
          }
          return response;
        }),
    ),
  );
});
