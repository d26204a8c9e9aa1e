// Dependency rules (issue #26, "One direction through the code"): checked by `npm run lint`, failing on an upward import or a cycle.
// dependency-cruiser rather than eslint-plugin-boundaries: it reads the imports itself (type-only ones too), so the rules need no ESLint.
//
// The relay, top to bottom (docs/architecture.md, "Folders and the way they depend"):
//   server/index.ts, main.ts, metrics.ts, http/  the composition root: builds everything below
//   server/cluster/    routes requests between relays (cluster mode)
//   server/rooms/      the effect of each request on rooms, members, stage and keys
//   server/media/      where media lives: workers, routers, transports (mediasoup)
//   server/signaling/  one connection: validation, rate limits, the session and dispatcher types
//   server/config.ts, protocol/, crypto/  shared by everything above
// The client: ui/ → session/ → media/, crypto/, protocol/; i18n/ is the UI's. Within session/: room-session.ts →
// shell/ → core/ → the pure modules beside them (membership.ts, key-batch.ts, …) → crypto/, protocol/.

const upward = (name, comment, fromPath, toPath) => ({ name, comment, severity: 'error', from: { path: fromPath }, to: { path: toPath } });

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'A cycle, type-only ones included, means two modules are one: split them or move the shared part down.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    upward('relay-root-only', 'Only the composition root imports index.ts, main.ts or metrics.ts.', '^server/(cluster|rooms|media|signaling|http)/|^server/config[.]ts$', '^server/(index|main|metrics)[.]ts$'),
    upward('cluster-not-http', 'cluster/ is below the composition root.', '^server/cluster/', '^server/http/'),
    upward('rooms-not-up', 'rooms/ knows nothing of the cluster or the composition root.', '^server/rooms/', '^server/(cluster|http)/'),
    upward('media-not-up', 'media/ places media and knows nothing of rooms, cluster or connections: the room media state it keeps is its own type.', '^server/media/', '^server/(rooms|cluster|signaling|http)/'),
    upward('signaling-not-up', 'signaling/ is one connection: it dispatches to an interface and imports no handler.', '^server/signaling/', '^server/(rooms|cluster|media|http)/'),
    upward('config-at-bottom', 'config.ts is read by everything above and imports only protocol/.', '^server/config[.]ts$', '^server/(?!config[.]ts$)'),
    upward('shared-not-up', 'crypto/ and protocol/ are isomorphic: neither the relay nor the page.', '^(crypto|protocol)/', '^(server|client)/'),
    upward('protocol-not-crypto', 'protocol/ holds wire schemas and pure rules, and needs no keys.', '^protocol/', '^crypto/'),
    upward('client-not-server', 'The page never imports the relay.', '^client/', '^server/'),
    upward('server-not-client', 'The relay never imports the page.', '^server/', '^client/'),
    {
      name: 'client-session-not-ui',
      comment: 'session/ drives the room; the UI renders what it publishes.',
      severity: 'error',
      from: { path: '^client/src/session/' },
      to: { path: '^client/src/(ui|i18n)/' },
    },
    {
      name: 'client-core-pure',
      comment: 'core/ takes one input at a time and returns effects: no shell, media, UI, socket or mediasoup (the DOM and timers: biome.jsonc).',
      severity: 'error',
      from: { path: '^client/src/session/core/' },
      to: { path: ['^client/src/session/(shell/|room-session[.]ts$)', '^client/src/(media|ui|i18n)/', '(^|/)node_modules/(socket[.]io-client|engine[.]io-client|mediasoup-client|preact)/'] },
    },
    {
      name: 'client-session-parts-below-core',
      comment: "The pure modules of session/ are the core's parts: they import neither the core nor the shell.",
      severity: 'error',
      from: { path: '^client/src/session/[^/]+$', pathNot: '^client/src/session/room-session[.]ts$' },
      to: { path: '^client/src/session/(shell|core)/' },
    },
    {
      name: 'client-media-not-session',
      comment: 'media/ is driven by the session and never calls it.',
      severity: 'error',
      from: { path: '^client/src/media/' },
      to: { path: '^client/src/(session|ui|i18n)/' },
    },
    {
      name: 'client-ui-through-session',
      comment: 'The UI reaches media through the session.',
      severity: 'error',
      from: { path: '^client/src/(ui|i18n)/' },
      to: { path: '^client/src/media/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|client/dist|client/dist-test|bench/results)' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { extensions: ['.ts', '.tsx', '.js', '.mjs'] },
  },
};
