import { beforeAll, describe, expect, it } from 'vitest';
import { generateEpochSecret, initCrypto, parseKid, decodeHeader, ratchetEpochSecret } from '../../crypto/index.ts';
import { FrameKeys, PREVIOUS_EPOCH_GRACE_MS, SEND_SWITCH_DELAY_MS } from '../../client/src/media/frame-keys.ts';

beforeAll(() => initCrypto());

function clock() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('FrameKeys (the E2EE worker state)', () => {
  it('fails closed: without a key nothing is sent and nothing is played', () => {
    const keys = new FrameKeys();
    expect(keys.encrypt(Uint8Array.of(1, 2, 3))).toBeNull();
    expect(keys.sent).toEqual({ encrypted: 0, droppedNoKey: 1 });
    expect(keys.decrypt('p', Uint8Array.of(0x90, 1, 2, 3))).toBeNull();
    expect(keys.received.get('p')).toMatchObject({ decrypted: 0, dropped: 1 });
  });

  it('encrypts with the KID of its epoch and index; another member decrypts by deriving the key on sight', () => {
    const secret = generateEpochSecret();
    const alice = new FrameKeys();
    const bob = new FrameKeys();
    alice.setEpoch(3, secret, 7);
    bob.setEpoch(3, secret, 1);
    const frame = alice.encrypt(Uint8Array.of(9, 8, 7))!;
    expect(parseKid(decodeHeader(frame).kid)).toEqual({ epoch: 3, senderIndex: 7 });
    expect(bob.decrypt('alice', frame)).toEqual(Uint8Array.of(9, 8, 7));
    expect(bob.received.get('alice')).toMatchObject({ decrypted: 1, dropped: 0 });
  });

  it('a tampered or foreign frame is dropped and counted with its error code', () => {
    const alice = new FrameKeys();
    const eve = new FrameKeys();
    alice.setEpoch(1, generateEpochSecret(), 0);
    eve.setEpoch(1, generateEpochSecret(), 0);
    const frame = alice.encrypt(Uint8Array.of(1))!;
    expect(eve.decrypt('alice', frame)).toBeNull();
    expect(eve.received.get('alice')).toMatchObject({ dropped: 1, lastError: 'SFRAME_AUTH_FAILED' });
    const other = new FrameKeys();
    expect(other.decrypt('alice', frame)).toBeNull();
    expect(other.received.get('alice')!.lastError).toBe('SFRAME_UNKNOWN_KID');
  });

  it('switches the sending epoch only after the delay, and keeps the old epoch for the grace period', () => {
    const c = clock();
    const s1 = generateEpochSecret();
    const s2 = ratchetEpochSecret(s1);
    const sender = new FrameKeys(c.now);
    const receiver = new FrameKeys(c.now);
    sender.setEpoch(1, s1, 0);
    receiver.setEpoch(1, s1, 1);
    const old = sender.encrypt(Uint8Array.of(1))!;
    sender.setEpoch(2, s2, 0);
    receiver.setEpoch(2, s2, 1);
    expect(parseKid(decodeHeader(sender.encrypt(Uint8Array.of(2))!).kid).epoch).toBe(1);
    c.advance(SEND_SWITCH_DELAY_MS);
    expect(parseKid(decodeHeader(sender.encrypt(Uint8Array.of(3))!).kid).epoch).toBe(2);
    expect(receiver.decrypt('s', old)).toEqual(Uint8Array.of(1));
    const late = new FrameKeys(c.now);
    late.setEpoch(1, s1, 5);
    const lateFrame = late.encrypt(Uint8Array.of(4))!;
    c.advance(PREVIOUS_EPOCH_GRACE_MS + 1);
    receiver.tick();
    expect(receiver.decrypt('late', lateFrame)).toBeNull();
    expect(receiver.received.get('late')!.lastError).toBe('SFRAME_UNKNOWN_KID');
  });

  it('follows a ratchet before its commit arrives: the sender switches at once, the receiver derives the next step', () => {
    const s1 = generateEpochSecret();
    const sender = new FrameKeys();
    const receiver = new FrameKeys();
    sender.setEpoch(1, s1, 0);
    receiver.setEpoch(1, s1, 1);
    sender.setEpoch(2, ratchetEpochSecret(s1), 0, true);
    const frame = sender.encrypt(Uint8Array.of(5))!;
    expect(parseKid(decodeHeader(frame).kid).epoch).toBe(2);
    expect(receiver.decrypt('s', frame)).toEqual(Uint8Array.of(5));
  });

  it('does not follow a fresh epoch speculatively', () => {
    const s1 = generateEpochSecret();
    const sender = new FrameKeys();
    const outsider = new FrameKeys();
    sender.setEpoch(1, s1, 0);
    outsider.setEpoch(1, s1, 1);
    sender.setEpoch(2, generateEpochSecret(), 0, true);
    const frame = sender.encrypt(Uint8Array.of(5))!;
    expect(outsider.decrypt('s', frame)).toBeNull();
    expect(outsider.received.get('s')!.lastError).toBe('SFRAME_AUTH_FAILED');
    // The failed guess leaves no key behind: a later genuine epoch 2 commit still installs cleanly.
    expect(outsider.decrypt('s', sender.encrypt(Uint8Array.of(6))!)).toBeNull();
  });

  it('a guessed ratchet key is dropped when the real epoch turns out to be fresh', () => {
    const s1 = generateEpochSecret();
    const departed = new FrameKeys();
    const member = new FrameKeys();
    departed.setEpoch(1, s1, 3);
    member.setEpoch(1, s1, 1);
    // Someone who held epoch 1 forges a frame "of epoch 2" under the ratchet of epoch 1, before the commit arrives.
    departed.setEpoch(2, ratchetEpochSecret(s1), 3, true);
    expect(member.decrypt('x', departed.encrypt(Uint8Array.of(1))!)).toEqual(Uint8Array.of(1));
    // The distributor's commit says epoch 2 is fresh: from then on the forger's frames are refused.
    member.setEpoch(2, generateEpochSecret(), 1);
    expect(member.decrypt('x', departed.encrypt(Uint8Array.of(2))!)).toBeNull();
    expect(member.received.get('x')!.lastError).toBe('SFRAME_AUTH_FAILED');
  });

  it('ignores an older or repeated epoch', () => {
    const keys = new FrameKeys();
    keys.setEpoch(5, generateEpochSecret(), 0);
    keys.setEpoch(4, generateEpochSecret(), 0);
    expect(keys.currentEpoch).toBe(5);
  });
});
