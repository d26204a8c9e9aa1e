// Worker entry: derives one room fingerprint (Argon2id, 64 MiB, about a second) off the page's thread.
import { roomFingerprint, type RoomFingerprint } from '../../../crypto/index.ts';

export interface FingerprintRequest {
  roomSecret: Uint8Array;
  hostSignPublicKey: Uint8Array;
}

export type FingerprintReply = { ok: true; fingerprint: RoomFingerprint } | { ok: false; message: string };

self.onmessage = async (event: MessageEvent<FingerprintRequest>) => {
  const { roomSecret, hostSignPublicKey } = event.data;
  let reply: FingerprintReply;
  try {
    reply = { ok: true, fingerprint: await roomFingerprint(roomSecret, hostSignPublicKey) };
  } catch (err) {
    reply = { ok: false, message: err instanceof Error ? err.message : String(err) };
  }
  self.postMessage(reply);
};
