import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOM_MESSAGE_CHARS } from '../../protocol/messages.ts';
import {
  bigEndian,
  concat,
  fromBase64url,
  generateIdentity,
  initCrypto,
  openRoomMessage,
  randomBytes,
  ROOM_MESSAGE_MAX_PAYLOAD,
  ROOM_MESSAGE_WIRE_BYTES,
  roomMessageEpoch,
  roomMessageKey,
  RoomMessageError,
  sealRoomMessage,
  toBase64url,
  utf8,
  type Identity,
} from '../../crypto/index.ts';

const ROOM = 'R'.repeat(22);
let alice: Identity;
let mallory: Identity;
const secret = randomBytes(32);
/** H(7) of the commit that made the epoch. */
const hash = randomBytes(32);
const keys = () => (id: string) => (id === alice.memberKeyId ? alice.signPublicKey : id === mallory.memberKeyId ? mallory.signPublicKey : null);

beforeAll(async () => {
  await initCrypto();
  alice = generateIdentity();
  mallory = generateIdentity();
});

const seal = (payload: Uint8Array, over: Partial<Parameters<typeof sealRoomMessage>[0]> = {}) =>
  sealRoomMessage({ roomId: ROOM, epoch: 7, epochSecret: secret, commitHash: hash, sender: alice, kind: 'chat', payload, sentAt: 1_700_000_000_000, ...over });
const open = (blob: string, over: Partial<Parameters<typeof openRoomMessage>[0]> = {}) => openRoomMessage({ roomId: ROOM, blob, epochSecret: secret, commitHash: hash, signKeyOf: keys(), ...over });

describe('room messages', () => {
  it('round-trip with their sender, kind, epoch and payload', () => {
    const blob = seal(utf8.encode('hello'));
    expect(roomMessageEpoch(blob)).toBe(7);
    const m = open(blob);
    expect(m).toMatchObject({ kind: 'chat', sender: alice.memberKeyId, epoch: 7, sentAt: 1_700_000_000_000 });
    expect(utf8.decode(m.payload)).toBe('hello');
    expect(m.id).toMatch(/^[0-9a-f]{32}$/);
    expect(open(blob).id).toBe(m.id);
    expect(open(seal(utf8.encode('hello'))).id).not.toBe(m.id);
  });

  it('have one of three sizes whatever the payload, and carry no plaintext', () => {
    const sizes = new Set<number>();
    for (const n of [0, 1, 50, 150, 151, 152, 400, 900, 2000, ROOM_MESSAGE_MAX_PAYLOAD]) {
      const blob = seal(new Uint8Array(n).fill(0x41));
      const bytes = fromBase64url(blob);
      expect(ROOM_MESSAGE_WIRE_BYTES).toContain(bytes.length);
      sizes.add(bytes.length);
      expect(blob).not.toContain('QUFBQUFB');
    }
    expect(sizes.size).toBe(3);
    // The relay's list of lengths is this module's, in base64url characters.
    expect(ROOM_MESSAGE_WIRE_BYTES.map((n) => Math.ceil((n * 4) / 3))).toEqual([...ROOM_MESSAGE_CHARS]);
    expect(seal(new Uint8Array(1)).length).toBe(seal(new Uint8Array(140)).length);
    expect(() => seal(new Uint8Array(ROOM_MESSAGE_MAX_PAYLOAD + 1))).toThrow(RangeError);
  });

  it('a relay cannot forge a sender: a signature by someone else, or a body signed for another epoch or room, is refused', () => {
    // Mallory holds the epoch key (an insider) and signs a body naming Alice: the signature checks under Alice's key.
    const forged = sealRoomMessage({ roomId: ROOM, epoch: 7, epochSecret: secret, commitHash: hash, sender: { ...mallory, memberKeyId: alice.memberKeyId }, kind: 'chat', payload: utf8.encode('I am Alice') });
    expect(() => open(forged)).toThrow(RoomMessageError);
    expect(() => open(forged)).toThrow('bad signature');
    // Someone nobody verified.
    const stranger = generateIdentity();
    expect(() => open(sealRoomMessage({ roomId: ROOM, epoch: 7, epochSecret: secret, commitHash: hash, sender: stranger, kind: 'chat', payload: new Uint8Array(1) }))).toThrow('does not know');
    // The relay, without the epoch secret, cannot make anything that opens.
    const relayMade = seal(utf8.encode('x'), { epochSecret: randomBytes(32) });
    expect(() => open(relayMade)).toThrow('does not authenticate');
    // Another room's key and id.
    expect(() => open(seal(utf8.encode('x'), { roomId: 'S'.repeat(22) }))).toThrow(RoomMessageError);
  });

  it('the clear epoch is bound: changing it fails authentication', () => {
    const bytes = fromBase64url(seal(utf8.encode('x')));
    bytes[8] = bytes[8]! ^ 1;
    const tampered = toBase64url(bytes);
    expect(roomMessageEpoch(tampered)).toBe(6);
    expect(() => open(tampered)).toThrow('does not authenticate');
  });

  it('a message a colluding member bridges into its own lineage (same epoch number, another commit) does not verify', () => {
    const blob = seal(utf8.encode('the host records'));
    const bytes = fromBase64url(blob);
    const aadOf = (h: Uint8Array) => concat(utf8.encode('teahouse/v1 room-message'), Uint8Array.of(0), utf8.encode(ROOM), Uint8Array.of(0), bigEndian(7, 8), h);
    // The colluder holds both epochs' keys: it opens the signed plaintext and seals it again under its fork's key.
    const padded = xchacha20poly1305(roomMessageKey(secret), bytes.subarray(9, 33), aadOf(hash)).decrypt(bytes.subarray(33));
    const forkSecret = randomBytes(32);
    const reseal = (h: Uint8Array) => {
      const nonce = randomBytes(24);
      return toBase64url(concat(bytes.subarray(0, 9), nonce, xchacha20poly1305(roomMessageKey(forkSecret), nonce, aadOf(h)).encrypt(padded)));
    };
    const forkHash = randomBytes(32);
    expect(() => open(reseal(forkHash), { epochSecret: forkSecret, commitHash: forkHash })).toThrow('bad signature');
    // The control: re-sealed for a lineage with the same commit hash, the signature holds; only the hash tells them apart.
    expect(utf8.decode(open(reseal(hash), { epochSecret: forkSecret }).payload)).toBe('the host records');
  });

  it('refuses flipped ciphertext, wrong sizes and garbage with RoomMessageError only', () => {
    const bytes = fromBase64url(seal(utf8.encode('x')));
    bytes[40] = bytes[40]! ^ 0x80;
    expect(() => open(toBase64url(bytes))).toThrow(RoomMessageError);
    expect(() => open(toBase64url(bytes.subarray(0, 200)))).toThrow('size');
    expect(() => open('***')).toThrow('base64url');
    expect(() => roomMessageEpoch('AAAA')).toThrow(RoomMessageError);
  });

  it('the message key is apart from the epoch secret', () => {
    expect(toBase64url(roomMessageKey(secret))).not.toBe(toBase64url(secret));
    expect(roomMessageKey(secret)).toHaveLength(32);
  });
});
