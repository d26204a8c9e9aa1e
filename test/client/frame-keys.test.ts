import { beforeAll, describe, expect, it } from 'vitest';
import { initCrypto, parseKid, decodeHeader, randomBytes } from '../../crypto/index.ts';
import { FrameKeys, HOLD_MAX_FRAMES, HOLD_MAX_MS, PREVIOUS_EPOCH_GRACE_MS } from '../../client/src/media/frame-keys.ts';

beforeAll(() => initCrypto());

function clock() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

/** A receive stream of `keys` for `participantId` that records what it plays, in order. */
function listen(keys: FrameKeys, participantId: string) {
  const played: number[][] = [];
  const stream = keys.openReceiver<number>(participantId, (_item, plain) => played.push([...plain]));
  return { played, push: (frame: Uint8Array) => stream.push(0, frame), close: () => stream.close() };
}

const epochOf = (frame: Uint8Array) => parseKid(decodeHeader(frame).kid).epoch;
// Alice sends with index 0, Bob with 1, Carol with 2.
const SENDERS = { alice: 0, bob: 1, carol: 2 };

describe('FrameKeys (the E2EE worker state)', () => {
  it('fails closed: without a key nothing is sent, and an old unknown epoch is not played', () => {
    const keys = new FrameKeys();
    expect(keys.encrypt(Uint8Array.of(1, 2, 3))).toBeNull();
    expect(keys.sent).toEqual({ encrypted: 0, droppedNoKey: 1, droppedStale: 0 });
    keys.setEpoch(5, randomBytes(32), 1, SENDERS);
    const old = new FrameKeys();
    old.setEpoch(4, randomBytes(32), 0, SENDERS);
    const p = listen(keys, 'alice');
    p.push(old.encrypt(Uint8Array.of(1))!);
    expect(p.played).toEqual([]);
    expect(keys.received.get('alice')).toMatchObject({ decrypted: 0, dropped: 1, held: 0, lastError: 'SFRAME_UNKNOWN_KID' });
  });

  it('encrypts with the KID of its epoch and index; another member decrypts by deriving the key on sight', () => {
    const secret = randomBytes(32);
    const alice = new FrameKeys();
    const bob = new FrameKeys();
    alice.setEpoch(3, secret, 0, SENDERS);
    bob.setEpoch(3, secret, 1, SENDERS);
    const frame = alice.encrypt(Uint8Array.of(9, 8, 7))!;
    expect(parseKid(decodeHeader(frame).kid)).toEqual({ epoch: 3, senderIndex: 0 });
    const p = listen(bob, 'alice');
    p.push(frame);
    expect(p.played).toEqual([[9, 8, 7]]);
    expect(bob.received.get('alice')).toMatchObject({ decrypted: 1, dropped: 0, wrongSender: 0 });
  });

  it('a tampered or foreign frame is dropped and counted with its error code', () => {
    const alice = new FrameKeys();
    const eve = new FrameKeys();
    alice.setEpoch(1, randomBytes(32), 0, SENDERS);
    eve.setEpoch(1, randomBytes(32), 1, SENDERS);
    const p = listen(eve, 'alice');
    p.push(alice.encrypt(Uint8Array.of(1))!);
    expect(p.played).toEqual([]);
    expect(eve.received.get('alice')).toMatchObject({ dropped: 1, lastError: 'SFRAME_AUTH_FAILED' });
  });

  it('binds each track to its participant\'s sender index: another member\'s KID on it is dropped, the real one still plays', () => {
    const secret = randomBytes(32);
    const alice = new FrameKeys();
    const carol = new FrameKeys();
    const bob = new FrameKeys();
    alice.setEpoch(1, secret, 0, SENDERS);
    carol.setEpoch(1, secret, 2, SENDERS);
    bob.setEpoch(1, secret, 1, SENDERS);
    const onAlice = listen(bob, 'alice');
    // Carol (a member, so she holds every sender key of the epoch) encrypts as Alice's index and at a far counter,
    // and the relay puts it on Carol's track: it is refused before it can move Alice's replay window.
    const forger = new FrameKeys();
    forger.setEpoch(1, secret, 0, SENDERS);
    for (let i = 0; i < 300; i++) forger.encrypt(Uint8Array.of(0));
    const onCarol = listen(bob, 'carol');
    onCarol.push(forger.encrypt(Uint8Array.of(6))!);
    expect(bob.received.get('carol')).toMatchObject({ decrypted: 0, dropped: 1, wrongSender: 1, lastError: 'WRONG_SENDER' });
    onAlice.push(alice.encrypt(Uint8Array.of(1))!);
    expect(onAlice.played).toEqual([[1]]);
    // Carol's own frames on Alice's track are refused too; on her own track they play.
    onAlice.push(carol.encrypt(Uint8Array.of(2))!);
    expect(bob.received.get('alice')).toMatchObject({ decrypted: 1, wrongSender: 1 });
    onCarol.push(carol.encrypt(Uint8Array.of(3))!);
    expect(onCarol.played).toEqual([[3]]);
    // A participant who is not a member of the epoch has no index: everything on its track drops.
    const stranger = listen(bob, 'dave');
    stranger.push(alice.encrypt(Uint8Array.of(4))!);
    expect(bob.received.get('dave')).toMatchObject({ decrypted: 0, wrongSender: 1 });
  });

  it('switches the sending epoch at once, for any new epoch, and keeps the old epoch for the grace period', () => {
    const c = clock();
    const s1 = randomBytes(32);
    const s2 = randomBytes(32);
    const sender = new FrameKeys(c.now);
    const receiver = new FrameKeys(c.now);
    sender.setEpoch(1, s1, 0, SENDERS);
    receiver.setEpoch(1, s1, 1, SENDERS);
    const old = sender.encrypt(Uint8Array.of(1))!;
    sender.setEpoch(2, s2, 0, SENDERS);
    expect(epochOf(sender.encrypt(Uint8Array.of(2))!)).toBe(2);
    receiver.setEpoch(2, s2, 1, SENDERS);
    const p = listen(receiver, 'alice');
    p.push(old);
    expect(p.played).toEqual([[1]]);
    const late = new FrameKeys(c.now);
    late.setEpoch(1, s1, 2, SENDERS);
    c.advance(PREVIOUS_EPOCH_GRACE_MS + 1);
    receiver.tick();
    const q = listen(receiver, 'carol');
    q.push(late.encrypt(Uint8Array.of(4))!);
    expect(q.played).toEqual([]);
    expect(receiver.received.get('carol')!.lastError).toBe('SFRAME_UNKNOWN_KID');
  });

  it('keeps the previous epoch even when epoch numbers leap', () => {
    const s1 = randomBytes(32);
    const sender = new FrameKeys();
    const receiver = new FrameKeys();
    sender.setEpoch(10, s1, 0, SENDERS);
    receiver.setEpoch(10, s1, 1, SENDERS);
    const old = sender.encrypt(Uint8Array.of(1))!;
    receiver.setEpoch(1_000, randomBytes(32), 1, SENDERS);
    const p = listen(receiver, 'alice');
    p.push(old);
    expect(p.played).toEqual([[1]]);
  });

  it('holds frames of a newer epoch and plays them in order, before later ones, when that epoch is installed', () => {
    const c = clock();
    const s1 = randomBytes(32);
    const s2 = randomBytes(32);
    const sender = new FrameKeys(c.now);
    const receiver = new FrameKeys(c.now);
    sender.setEpoch(1, s1, 0, SENDERS);
    receiver.setEpoch(1, s1, 1, SENDERS);
    const p = listen(receiver, 'alice');
    p.push(sender.encrypt(Uint8Array.of(1))!);
    sender.setEpoch(2, s2, 0, SENDERS);
    for (const n of [2, 3, 4]) {
      c.advance(20);
      p.push(sender.encrypt(Uint8Array.of(n))!);
    }
    expect(p.played).toEqual([[1]]);
    expect(receiver.received.get('alice')).toMatchObject({ held: 3, dropped: 0 });
    receiver.setEpoch(2, s2, 1, SENDERS);
    p.push(sender.encrypt(Uint8Array.of(5))!);
    expect(p.played).toEqual([[1], [2], [3], [4], [5]]);
    expect(receiver.received.get('alice')).toMatchObject({ decrypted: 5, dropped: 0, heldDropped: 0 });
  });

  it('a newcomer hears as soon as its key arrives: frames sent before are held, then played', () => {
    const secret = randomBytes(32);
    const host = new FrameKeys();
    const newcomer = new FrameKeys();
    host.setEpoch(7, secret, 0, SENDERS);
    const p = listen(newcomer, 'alice');
    p.push(host.encrypt(Uint8Array.of(1))!);
    p.push(host.encrypt(Uint8Array.of(2))!);
    expect(p.played).toEqual([]);
    newcomer.setEpoch(7, secret, 1, SENDERS);
    expect(p.played).toEqual([[1], [2]]);
  });

  it('drops held frames older than the hold limit, and the oldest beyond its size, counting them', () => {
    const c = clock();
    const secret = randomBytes(32);
    const sender = new FrameKeys(c.now);
    const receiver = new FrameKeys(c.now);
    sender.setEpoch(1, secret, 0, SENDERS);
    const p = listen(receiver, 'alice');
    p.push(sender.encrypt(Uint8Array.of(0))!);
    c.advance(HOLD_MAX_MS + 1);
    receiver.tick();
    expect(receiver.received.get('alice')).toMatchObject({ held: 1, heldDropped: 1, dropped: 1, lastError: 'HOLD_EXPIRED' });
    for (let n = 1; n <= HOLD_MAX_FRAMES + 3; n++) p.push(sender.encrypt(Uint8Array.of(n))!);
    expect(receiver.received.get('alice')).toMatchObject({ heldDropped: 4, lastError: 'HOLD_OVERFLOW' });
    receiver.setEpoch(1, secret, 1, SENDERS);
    expect(p.played.map(([n]) => n)).toEqual(Array.from({ length: HOLD_MAX_FRAMES }, (_, i) => i + 4));
  });

  it('held frames of an epoch that was skipped drop; held frames of a still newer epoch keep waiting', () => {
    const s2 = randomBytes(32);
    const s3 = randomBytes(32);
    const s4 = randomBytes(32);
    const two = new FrameKeys();
    const four = new FrameKeys();
    two.setEpoch(2, s2, 0, SENDERS);
    four.setEpoch(4, s4, 0, SENDERS);
    const receiver = new FrameKeys();
    const p = listen(receiver, 'alice');
    p.push(four.encrypt(Uint8Array.of(4))!);
    p.push(two.encrypt(Uint8Array.of(2))!);
    receiver.setEpoch(3, s3, 1, SENDERS);
    expect(p.played).toEqual([]);
    expect(receiver.received.get('alice')).toMatchObject({ held: 2, heldDropped: 1, lastError: 'SFRAME_UNKNOWN_KID' });
    receiver.setEpoch(4, s4, 1, SENDERS);
    expect(p.played).toEqual([[4]]);
  });

  it('held frames are bound to the sender map of their epoch when it arrives', () => {
    const secret = randomBytes(32);
    const carol = new FrameKeys();
    carol.setEpoch(1, secret, 2, SENDERS);
    const receiver = new FrameKeys();
    const p = listen(receiver, 'alice');
    p.push(carol.encrypt(Uint8Array.of(1))!);
    receiver.setEpoch(1, secret, 1, SENDERS);
    expect(p.played).toEqual([]);
    expect(receiver.received.get('alice')).toMatchObject({ held: 1, wrongSender: 1, heldDropped: 1 });
  });

  it('a closed stream is not fed again', () => {
    const secret = randomBytes(32);
    const sender = new FrameKeys();
    sender.setEpoch(1, secret, 0, SENDERS);
    const receiver = new FrameKeys();
    const p = listen(receiver, 'alice');
    p.push(sender.encrypt(Uint8Array.of(1))!);
    p.close();
    receiver.setEpoch(1, secret, 1, SENDERS);
    expect(p.played).toEqual([]);
  });

  it('sends nothing while sending is not allowed, and counts it', () => {
    const keys = new FrameKeys();
    keys.setEpoch(1, randomBytes(32), 0, SENDERS);
    keys.setSendAllowed(false);
    expect(keys.encrypt(Uint8Array.of(1))).toBeNull();
    expect(keys.encrypt(Uint8Array.of(2))).toBeNull();
    keys.setEpoch(2, randomBytes(32), 0, SENDERS);
    expect(keys.encrypt(Uint8Array.of(3))).toBeNull();
    expect(keys.sent).toEqual({ encrypted: 0, droppedNoKey: 0, droppedStale: 3 });
    keys.setSendAllowed(true);
    expect(epochOf(keys.encrypt(Uint8Array.of(4))!)).toBe(2);
    expect(keys.sent).toMatchObject({ encrypted: 1, droppedStale: 3 });
  });

  it('a member without a sender index sends nothing', () => {
    const keys = new FrameKeys();
    keys.setEpoch(1, randomBytes(32), 0, SENDERS);
    keys.setEpoch(2, randomBytes(32), null, SENDERS);
    expect(keys.encrypt(Uint8Array.of(1))).toBeNull();
    expect(keys.sent.droppedNoKey).toBe(1);
  });

  it('ignores an older or repeated epoch', () => {
    const keys = new FrameKeys();
    keys.setEpoch(5, randomBytes(32), 0, SENDERS);
    keys.setEpoch(4, randomBytes(32), 0, SENDERS);
    expect(keys.currentEpoch).toBe(5);
  });
});
