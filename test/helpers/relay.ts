// Test helpers: a loopback relay serving the test build of the client, and socket.io clients with typed requests and event waits.
import { fileURLToPath } from 'node:url';
import { io, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client';
import { createAnnouncement, createKemOffer, deriveRoomKeys, generateIdentity, generateRoomSecret, initCrypto, sealMetadata, verifyAnnouncement, type Identity, type RoomKeys } from '../../crypto/index.ts';
import { request } from '../../protocol/client.ts';
import type { EventOf, EventType, ReplyOf, RequestOf, RequestType } from '../../protocol/messages.ts';
import { startRelay, type Relay, type RelayOptions } from '../../server/index.ts';

/** What a browser's Opus producer sends, minus the header extensions: enough for mediasoup to accept a producer. */
export const OPUS_RTP_PARAMETERS = {
  mid: '0',
  codecs: [{ mimeType: 'audio/opus', payloadType: 111, clockRate: 48000, channels: 2, parameters: {}, rtcpFeedback: [] }],
  headerExtensions: [],
  encodings: [{ ssrc: 11111111 }],
  rtcp: { cname: 'test', reducedSize: true },
};

/** A stand-in for a speaker's stream certificate (128 base64url characters): the relay passes it on unread. */
export const STREAM_CERTIFICATE = 'c3RyZWFtLWNlcnRpZmljYXRl'.padEnd(128, '_');

/** A stand-in for a signed stage decision: the relay passes decisions on unread, so its tests need none real. */
export const DECISION = 'c2lnbmVkLWRlY2lzaW9u';

/** A stand-in for one member's key package (107 base64url characters), distinct per tag so tests can tell them apart. */
export function fakePackage(tag: string): string {
  if (!/^[A-Za-z0-9_-]{1,107}$/.test(tag)) throw new Error(`"${tag}" cannot tag a package`);
  return tag.padEnd(107, '_');
}

/**
 * The test build of the client (`npm run build:client:test`, run by pretest and prebench): the only one with the
 * window.teahouse diagnostics that browser tests and benchmarks read. `npm start` serves the production client/dist.
 */
export const TEST_CLIENT_DIR = fileURLToPath(new URL('../../client/dist-test', import.meta.url));

export async function startTestRelay(options: RelayOptions = {}): Promise<Relay> {
  // rtcPort and metricsPort 0: any free ones, so relays of tests running side by side never collide (a test that
  // restarts a relay on the same public port would otherwise take the default metrics port).
  return startRelay({ port: 0, rtcPort: 0, metricsPort: 0, host: '127.0.0.1', workers: 1, logLevel: 'silent', disconnectGraceMs: 0, clientDir: TEST_CLIENT_DIR, ...options });
}

export interface TestClient {
  socket: Socket;
  req<T extends RequestType>(type: T, payload: RequestOf<T>): Promise<ReplyOf<T>>;
  /** Sends anything, valid or not, and resolves with the raw acknowledgement. */
  raw(event: string, ...args: unknown[]): Promise<unknown>;
  next<T extends EventType>(event: T, timeoutMs?: number): Promise<EventOf<T>>;
  received: { event: string; payload: unknown }[];
  close(): void;
}

/** `options` go to socket.io-client as well, e.g. `ca` for a relay on HTTPS with a test certificate. */
export async function connect(relay: Pick<Relay, 'url'>, options: Partial<ManagerOptions & SocketOptions> = {}): Promise<TestClient> {
  const socket = io(relay.url, { transports: ['websocket'], reconnection: false, forceNew: true, ...options });
  const received: { event: string; payload: unknown }[] = [];
  socket.onAny((event, payload) => received.push({ event, payload }));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  return {
    socket,
    received,
    req: (type, payload) => request(socket, type, payload, 10_000),
    raw: (event, ...args) => new Promise((resolve) => socket.timeout(5_000).emit(event, ...args, (err: Error | null, reply: unknown) => resolve(err ? { timeout: true } : reply))),
    next: (event, timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${event} within ${timeoutMs} ms`)), timeoutMs);
        socket.once(event as string, (payload: EventOf<typeof event>) => {
          clearTimeout(timer);
          resolve(payload);
        });
      }),
    close: () => socket.disconnect(),
  };
}

export interface TestRoom {
  secret: Uint8Array;
  keys: RoomKeys;
}

export async function newRoom(): Promise<TestRoom> {
  await initCrypto();
  const secret = generateRoomSecret();
  return { secret, keys: deriveRoomKeys(secret) };
}

export function announce(room: TestRoom, name: string, identity: Identity = generateIdentity()): string {
  const sealedProfile = sealMetadata(room.keys.metaKey, room.keys.roomId, 'profile', { name });
  return createAnnouncement({ roomId: room.keys.roomId, authKey: room.keys.authKey, identity, sealedProfile });
}

/**
 * What a page does on entering: a KEM offer to every stage member whose announcement carries a KEM key, so that a
 * distributor sealing under hybrid keys can key this simulated member (docs/protocol.md §5, hybrid pairwise keys).
 */
export async function offerToStage(client: TestClient, room: TestRoom, identity: Identity, participants: readonly { participantId: string; role: string; announcement: string }[]): Promise<void> {
  const offers: { to: string; offer: string }[] = [];
  for (const p of participants) {
    if (p.role === 'listener') continue;
    const v = verifyAnnouncement({ roomId: room.keys.roomId, authKey: room.keys.authKey, blob: p.announcement });
    const made = v.kemPublicKey ? createKemOffer({ roomId: room.keys.roomId, from: identity, to: v.memberKeyId, toKemPublicKey: v.kemPublicKey }) : null;
    if (made) offers.push({ to: p.participantId, offer: made.offer });
  }
  if (offers.length > 0) await client.req('key.kem', { offers });
}

export function sealedTitle(room: TestRoom, title: string): string {
  return sealMetadata(room.keys.metaKey, room.keys.roomId, 'room-title', title);
}
