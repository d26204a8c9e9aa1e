// The signaling protocol's public API.
export * from './client.ts';
export * from './errors.ts';
export * from './heartbeat.ts';
export * from './messages.ts';
