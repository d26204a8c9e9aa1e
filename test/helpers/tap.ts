// Test taps: the RTP payloads a relay forwards for a room, and a page's current epoch key (diagnostics).
import type { types } from 'mediasoup';
import type { Page } from 'playwright-core';
import type { Relay } from '../../server/index.ts';
import { expect } from 'vitest';
import { decodeHeader, DEFAULT_CIPHER_SUITE, deriveSenderBaseKey, fromHex, parseKid, ratchetCommitSecret, SframeError, SframeReceiver } from '../../crypto/index.ts';
import { rtpClock, rtpPayload } from './rtp.ts';

export interface TappedFrame {
  sequence: number;
  timestamp: number;
  payload: Uint8Array;
}

/** Taps every producer of a room (or of one member) at the relay with a DirectTransport: the bytes it forwards. */
export async function tapRoom(relay: Relay, roomId: string, participantId?: string): Promise<{ payloads: Uint8Array[]; frames: TappedFrame[]; close(): void }> {
  const room = relay.rooms.get(roomId)!;
  const transport = await room.router.createDirectTransport();
  const payloads: Uint8Array[] = [];
  const frames: TappedFrame[] = [];
  for (const [id, member] of room.members) {
    if (participantId !== undefined && id !== participantId) continue;
    for (const producer of member.producers.values()) {
      const consumer: types.Consumer = await transport.consume({ producerId: producer.id, rtpCapabilities: room.router.rtpCapabilities });
      consumer.on('rtp', (packet: Buffer) => {
        const payload = new Uint8Array(rtpPayload(packet));
        payloads.push(payload);
        frames.push({ ...rtpClock(packet), payload });
      });
    }
  }
  return { payloads, frames, close: () => transport.close() };
}

export async function epochKey(page: Page): Promise<{ epoch: number; secret: string; hash: string }> {
  return page.evaluate(() => (window as unknown as { teahouse: { currentEpochKey(): { epoch: number; secret: string; hash: string } } }).teahouse.currentEpochKey());
}

/**
 * Every tapped frame is of `epoch` and fails to decrypt under the epoch secret a departed member held, or under the
 * ratchet step it could compute from it (a real ratchet also binds the commit's hash, so this is the closest guess).
 */
export async function expectUndecryptable(payloads: Uint8Array[], heldSecretHex: string, epoch: number): Promise<void> {
  const candidates = [fromHex(heldSecretHex), ratchetCommitSecret(fromHex(heldSecretHex))];
  let tried = 0;
  for (const payload of payloads) {
    const { kid } = decodeHeader(payload);
    const { epoch: frameEpoch, senderIndex } = parseKid(kid);
    expect(frameEpoch).toBe(epoch);
    for (const secret of candidates) {
      const receiver = new SframeReceiver();
      receiver.addKey(kid, deriveSenderBaseKey(secret, senderIndex, DEFAULT_CIPHER_SUITE));
      await expect(receiver.decrypt(payload)).rejects.toThrow(SframeError);
      tried++;
    }
  }
  expect(tried).toBeGreaterThan(100);
}

/**
 * Taps, on an edge relay of a cluster, every producer piped in from the room's origin for its members there: the
 * bytes that relay forwards to them.
 */
export async function tapEdge(relay: Relay, roomId: string): Promise<{ payloads: Uint8Array[]; close(): void }> {
  const router = await relay.cluster!.edgeRouter(roomId)!;
  const transport = await router.createDirectTransport();
  const payloads: Uint8Array[] = [];
  const producers = (await relay.cluster!.pipedProducers()).filter((p): p is types.Producer => p !== null && !p.closed);
  for (const producer of producers) {
    const consumer = await transport.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities });
    consumer.on('rtp', (packet: Buffer) => payloads.push(new Uint8Array(rtpPayload(packet))));
  }
  return { payloads, close: () => transport.close() };
}

/**
 * Taps every producer a room has now and any it gets later (a page that came back makes a new one), each from the
 * moment it is seen, and records each (KID, CTR) pair the relay forwards: a pair that comes with two different
 * ciphertexts was used twice under one key (the same packet forwarded twice is no reuse).
 */
export async function tapNonces(relay: Relay, roomId: string): Promise<{ repeats(): string[]; frames(kidFilter?: (kid: bigint) => boolean): number; close(): void }> {
  const room = relay.rooms.get(roomId)!;
  const transport = await room.router.createDirectTransport();
  const seen = new Map<string, Set<string>>();
  const tapped = new Set<string>();
  const tapNew = async () => {
    for (const member of room.members.values()) {
      for (const producer of member.producers.values()) {
        if (tapped.has(producer.id) || producer.closed) continue;
        tapped.add(producer.id);
        const consumer = await transport.consume({ producerId: producer.id, rtpCapabilities: room.router.rtpCapabilities }).catch(() => null);
        consumer?.on('rtp', (packet: Buffer) => {
          const payload = new Uint8Array(rtpPayload(packet));
          const { kid, counter } = decodeHeader(payload);
          const pair = `${kid}/${counter}`;
          let ciphertexts = seen.get(pair);
          if (!ciphertexts) seen.set(pair, (ciphertexts = new Set()));
          ciphertexts.add(Buffer.from(payload).toString('base64'));
        });
      }
    }
  };
  await tapNew();
  const timer = setInterval(() => void tapNew(), 100);
  return {
    repeats: () => [...seen].filter(([, ciphertexts]) => ciphertexts.size > 1).map(([pair]) => pair),
    frames: (kidFilter = () => true) => [...seen.keys()].filter((pair) => kidFilter(BigInt(pair.split('/')[0]!))).length,
    close: () => {
      clearInterval(timer);
      transport.close();
    },
  };
}
