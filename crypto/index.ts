// The public API of crypto/: isomorphic (Node, browsers, Workers); await initCrypto() once before using libsodium parts.
export * from './announcement.ts';
export * from './bytes.ts';
export * from './decision.ts';
export * from './epoch.ts';
export * from './errors.ts';
export * from './fingerprint.ts';
export * from './identity.ts';
export * from './kem.ts';
export * from './kid.ts';
export * from './metadata.ts';
export * from './room-message.ts';
export * from './room-secret.ts';
export * from './sframe.ts';
export { initCrypto } from './sodium.ts';
export * from './frame-signature.ts';
export * from './ed25519.ts';
export * from './stream-key.ts';
