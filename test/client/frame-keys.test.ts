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
  it('fails closed: without a key nothing is sent, and an old unknown epoch is not played', async () => {
    const keys = new FrameKeys();
    expect(await keys.encrypt(Uint8Array.of(1, 2, 3))).toBeNull();
    expect(keys.sent).toEqual({ encrypted: 0, droppedNoKey: 1, droppedStale: 0 });
    await keys.setEpoch(5, randomBytes(32), 1, SENDERS);
    const old = new FrameKeys();
    await old.setEpoch(4, randomBytes(32), 0, SENDERS);
    const p = listen(keys, 'alice');
    await p.push((await old.encrypt(Uint8Array.of(1)))!);
    expect(p.played).toEqual([]);
    expect(keys.received.get('alice')).toMatchObject({ decrypted: 0, dropped: 1, held: 0, lastError: 'SFRAME_UNKNOWN_KID' });
  });

  it('encrypts with the KID of its epoch and index; another member decrypts by deriving the key on sight', async () => {
    const secret = randomBytes(32);
    const alice = new FrameKeys();
    const bob = new FrameKeys();
    await alice.setEpoch(3, secret, 0, SENDERS);
    await bob.setEpoch(3, secret, 1, SENDERS);
    const frame = (await alice.encrypt(Uint8Array.of(9, 8, 7)))!;
    expect(parseKid(decodeHeader(frame).kid)).toEqual({ epoch: 3, senderIndex: 0 });
    const p = listen(bob, 'alice');
    await p.push(frame);
    expect(p.played).toEqual([[9, 8, 7]]);
    expect(bob.received.get('alice')).toMatchObject({ decrypted: 1, dropped: 0, wrongSender: 0 });
  });

  it('a tampered or foreign frame is dropped and counted with its error code', async () => {
    const alice = new FrameKeys();
    const eve = new FrameKeys();
    await alice.setEpoch(1, randomBytes(32), 0, SENDERS);
    await eve.setEpoch(1, randomBytes(32), 1, SENDERS);
    const p = listen(eve, 'alice');
    await p.push((await alice.encrypt(Uint8Array.of(1)))!);
    expect(p.played).toEqual([]);
    expect(eve.received.get('alice')).toMatchObject({ dropped: 1, lastError: 'SFRAME_AUTH_FAILED' });
  });

  it("binds each track to its participant's sender index: another member's KID on it is dropped, the real one still plays", async () => {
    const secret = randomBytes(32);
    const alice = new FrameKeys();
    const carol = new FrameKeys();
    const bob = new FrameKeys();
    await alice.setEpoch(1, secret, 0, SENDERS);
    await carol.setEpoch(1, secret, 2, SENDERS);
    await bob.setEpoch(1, secret, 1, SENDERS);
    const onAlice = listen(bob, 'alice');
    // Carol (a member, so she holds every sender key of the epoch) encrypts as Alice's index and at a far counter,
    // and the relay puts it on Carol's track: it is refused before it can move Alice's replay window.
    const forger = new FrameKeys();
    await forger.setEpoch(1, secret, 0, SENDERS);
    for (let i = 0; i < 300; i++) await forger.encrypt(Uint8Array.of(0));
    const onCarol = listen(bob, 'carol');
    await onCarol.push((await forger.encrypt(Uint8Array.of(6)))!);
    expect(bob.received.get('carol')).toMatchObject({ decrypted: 0, dropped: 1, wrongSender: 1, lastError: 'WRONG_SENDER' });
    await onAlice.push((await alice.encrypt(Uint8Array.of(1)))!);
    expect(onAlice.played).toEqual([[1]]);
    // Carol's own frames on Alice's track are refused too; on her own track they play.
    await onAlice.push((await carol.encrypt(Uint8Array.of(2)))!);
    expect(bob.received.get('alice')).toMatchObject({ decrypted: 1, wrongSender: 1 });
    await onCarol.push((await carol.encrypt(Uint8Array.of(3)))!);
    expect(onCarol.played).toEqual([[3]]);
    // A participant who is not a member of the epoch has no index: everything on its track drops.
    const stranger = listen(bob, 'dave');
    await stranger.push((await alice.encrypt(Uint8Array.of(4)))!);
    expect(bob.received.get('dave')).toMatchObject({ decrypted: 0, wrongSender: 1 });
  });

  it('switches the sending epoch at once, for any new epoch, and keeps the old epoch for the grace period', async () => {
    const c = clock();
    const s1 = randomBytes(32);
    const s2 = randomBytes(32);
    const sender = new FrameKeys(c.now);
    const receiver = new FrameKeys(c.now);
    await sender.setEpoch(1, s1, 0, SENDERS);
    await receiver.setEpoch(1, s1, 1, SENDERS);
    const old = (await sender.encrypt(Uint8Array.of(1)))!;
    await sender.setEpoch(2, s2, 0, SENDERS);
    expect(epochOf((await sender.encrypt(Uint8Array.of(2)))!)).toBe(2);
    await receiver.setEpoch(2, s2, 1, SENDERS);
    const p = listen(receiver, 'alice');
    await p.push(old);
    expect(p.played).toEqual([[1]]);
    const late = new FrameKeys(c.now);
    await late.setEpoch(1, s1, 2, SENDERS);
    c.advance(PREVIOUS_EPOCH_GRACE_MS + 1);
    receiver.tick();
    const q = listen(receiver, 'carol');
    await q.push((await late.encrypt(Uint8Array.of(4)))!);
    expect(q.played).toEqual([]);
    expect(receiver.received.get('carol')!.lastError).toBe('SFRAME_UNKNOWN_KID');
  });

  it('keeps the previous epoch even when epoch numbers leap', async () => {
    const s1 = randomBytes(32);
    const sender = new FrameKeys();
    const receiver = new FrameKeys();
    await sender.setEpoch(10, s1, 0, SENDERS);
    await receiver.setEpoch(10, s1, 1, SENDERS);
    const old = (await sender.encrypt(Uint8Array.of(1)))!;
    await receiver.setEpoch(1_000, randomBytes(32), 1, SENDERS);
    const p = listen(receiver, 'alice');
    await p.push(old);
    expect(p.played).toEqual([[1]]);
  });

  it('holds frames of a newer epoch and plays them in order, before later ones, when that epoch is installed', async () => {
    const c = clock();
    const s1 = randomBytes(32);
    const s2 = randomBytes(32);
    const sender = new FrameKeys(c.now);
    const receiver = new FrameKeys(c.now);
    await sender.setEpoch(1, s1, 0, SENDERS);
    await receiver.setEpoch(1, s1, 1, SENDERS);
    const p = listen(receiver, 'alice');
    await p.push((await sender.encrypt(Uint8Array.of(1)))!);
    await sender.setEpoch(2, s2, 0, SENDERS);
    for (const n of [2, 3, 4]) {
      c.advance(20);
      await p.push((await sender.encrypt(Uint8Array.of(n)))!);
    }
    expect(p.played).toEqual([[1]]);
    expect(receiver.received.get('alice')).toMatchObject({ held: 3, dropped: 0 });
    await receiver.setEpoch(2, s2, 1, SENDERS);
    await p.push((await sender.encrypt(Uint8Array.of(5)))!);
    expect(p.played).toEqual([[1], [2], [3], [4], [5]]);
    expect(receiver.received.get('alice')).toMatchObject({ decrypted: 5, dropped: 0, heldDropped: 0 });
  });

  it('frames pushed while an epoch arrives wait for the held frames it releases, whichever comes first', async () => {
    const s1 = randomBytes(32);
    const s2 = randomBytes(32);
    const sender = new FrameKeys();
    sender.setEpoch(1, s1, 0, SENDERS);
    await sender.setEpoch(2, s2, 0, SENDERS);
    const frames = [];
    for (const n of [1, 2, 3, 4, 5, 6]) frames.push((await sender.encrypt(Uint8Array.of(n)))!);

    // The epoch's commit arrives, then frames follow at once, none awaited: the release goes first.
    const a = new FrameKeys();
    await a.setEpoch(1, s1, 1, SENDERS);
    const p = listen(a, 'alice');
    expect(await Promise.all(frames.slice(0, 3).map((f) => p.push(f)))).toEqual(['held', 'held', 'held']);
    const released = a.setEpoch(2, s2, 1, SENDERS);
    const later = frames.slice(3).map((f) => p.push(f));
    await released;
    expect(await Promise.all(later)).toEqual(['played', 'played', 'played']);
    expect(p.played).toEqual([[1], [2], [3], [4], [5], [6]]);

    // A frame already pushed but not yet handled when the commit arrives: the held frames still play before it.
    const b = new FrameKeys();
    await b.setEpoch(1, s1, 1, SENDERS);
    const q = listen(b, 'alice');
    for (const f of frames.slice(0, 3)) await q.push(f);
    const next = q.push(frames[3]!);
    const releasedB = b.setEpoch(2, s2, 1, SENDERS);
    expect(await next).toBe('played');
    await releasedB;
    expect(q.played).toEqual([[1], [2], [3], [4]]);
    expect(b.received.get('alice')).toMatchObject({ decrypted: 4, held: 3, dropped: 0, heldDropped: 0 });
  });

  it('a newcomer hears as soon as its key arrives: frames sent before are held, then played', async () => {
    const secret = randomBytes(32);
    const host = new FrameKeys();
    const newcomer = new FrameKeys();
    await host.setEpoch(7, secret, 0, SENDERS);
    const p = listen(newcomer, 'alice');
    await p.push((await host.encrypt(Uint8Array.of(1)))!);
    await p.push((await host.encrypt(Uint8Array.of(2)))!);
    expect(p.played).toEqual([]);
    await newcomer.setEpoch(7, secret, 1, SENDERS);
    expect(p.played).toEqual([[1], [2]]);
  });

  it('drops held frames older than the hold limit, and the oldest beyond its size, counting them', async () => {
    const c = clock();
    const secret = randomBytes(32);
    const sender = new FrameKeys(c.now);
    const receiver = new FrameKeys(c.now);
    await sender.setEpoch(1, secret, 0, SENDERS);
    const p = listen(receiver, 'alice');
    await p.push((await sender.encrypt(Uint8Array.of(0)))!);
    c.advance(HOLD_MAX_MS + 1);
    receiver.tick();
    expect(receiver.received.get('alice')).toMatchObject({ held: 1, heldDropped: 1, dropped: 1, lastError: 'HOLD_EXPIRED' });
    for (let n = 1; n <= HOLD_MAX_FRAMES + 3; n++) await p.push((await sender.encrypt(Uint8Array.of(n)))!);
    expect(receiver.received.get('alice')).toMatchObject({ heldDropped: 4, lastError: 'HOLD_OVERFLOW' });
    await receiver.setEpoch(1, secret, 1, SENDERS);
    expect(p.played.map(([n]) => n)).toEqual(Array.from({ length: HOLD_MAX_FRAMES }, (_, i) => i + 4));
  });

  it('held frames of an epoch that was skipped drop; held frames of a still newer epoch keep waiting', async () => {
    const s2 = randomBytes(32);
    const s3 = randomBytes(32);
    const s4 = randomBytes(32);
    const two = new FrameKeys();
    const four = new FrameKeys();
    await two.setEpoch(2, s2, 0, SENDERS);
    await four.setEpoch(4, s4, 0, SENDERS);
    const receiver = new FrameKeys();
    const p = listen(receiver, 'alice');
    await p.push((await four.encrypt(Uint8Array.of(4)))!);
    await p.push((await two.encrypt(Uint8Array.of(2)))!);
    await receiver.setEpoch(3, s3, 1, SENDERS);
    expect(p.played).toEqual([]);
    expect(receiver.received.get('alice')).toMatchObject({ held: 2, heldDropped: 1, lastError: 'SFRAME_UNKNOWN_KID' });
    await receiver.setEpoch(4, s4, 1, SENDERS);
    expect(p.played).toEqual([[4]]);
  });

  it('held frames are bound to the sender map of their epoch when it arrives', async () => {
    const secret = randomBytes(32);
    const carol = new FrameKeys();
    await carol.setEpoch(1, secret, 2, SENDERS);
    const receiver = new FrameKeys();
    const p = listen(receiver, 'alice');
    await p.push((await carol.encrypt(Uint8Array.of(1)))!);
    await receiver.setEpoch(1, secret, 1, SENDERS);
    expect(p.played).toEqual([]);
    expect(receiver.received.get('alice')).toMatchObject({ held: 1, wrongSender: 1, heldDropped: 1 });
  });

  it('a closed stream is not fed again', async () => {
    const secret = randomBytes(32);
    const sender = new FrameKeys();
    await sender.setEpoch(1, secret, 0, SENDERS);
    const receiver = new FrameKeys();
    const p = listen(receiver, 'alice');
    await p.push((await sender.encrypt(Uint8Array.of(1)))!);
    p.close();
    await receiver.setEpoch(1, secret, 1, SENDERS);
    expect(p.played).toEqual([]);
  });

  it('sends nothing while sending is not allowed, and counts it', async () => {
    const keys = new FrameKeys();
    await keys.setEpoch(1, randomBytes(32), 0, SENDERS);
    keys.setSendAllowed(false);
    expect(await keys.encrypt(Uint8Array.of(1))).toBeNull();
    expect(await keys.encrypt(Uint8Array.of(2))).toBeNull();
    await keys.setEpoch(2, randomBytes(32), 0, SENDERS);
    expect(await keys.encrypt(Uint8Array.of(3))).toBeNull();
    expect(keys.sent).toEqual({ encrypted: 0, droppedNoKey: 0, droppedStale: 3 });
    keys.setSendAllowed(true);
    expect(epochOf((await keys.encrypt(Uint8Array.of(4)))!)).toBe(2);
    expect(keys.sent).toMatchObject({ encrypted: 1, droppedStale: 3 });
  });

  it('a member without a sender index sends nothing', async () => {
    const keys = new FrameKeys();
    await keys.setEpoch(1, randomBytes(32), 0, SENDERS);
    await keys.setEpoch(2, randomBytes(32), null, SENDERS);
    expect(await keys.encrypt(Uint8Array.of(1))).toBeNull();
    expect(keys.sent.droppedNoKey).toBe(1);
  });

  it('ignores an older or repeated epoch', async () => {
    const keys = new FrameKeys();
    await keys.setEpoch(5, randomBytes(32), 0, SENDERS);
    await keys.setEpoch(4, randomBytes(32), 0, SENDERS);
    expect(keys.currentEpoch).toBe(5);
  });

  it("a sender's counter runs on across epochs, and wrap sees the KID and counter its frame goes out under, even when the epoch changes meanwhile", async () => {
    const alice = new FrameKeys();
    await alice.setEpoch(1, randomBytes(32), 0, SENDERS);
    const seen: [bigint, bigint][] = [];
    const wrap = async (kid: bigint, counter: bigint, frame: Uint8Array) => {
      seen.push([kid, counter]);
      return frame;
    };
    for (let i = 0; i < 3; i++) await alice.encrypt(Uint8Array.of(i), wrap);
    // The epoch changes while the fourth frame is being wrapped: it is wrapped again for the new sender.
    let switched = false;
    const racing = async (kid: bigint, counter: bigint, frame: Uint8Array) => {
      seen.push([kid, counter]);
      if (!switched) {
        switched = true;
        await alice.setEpoch(2, randomBytes(32), 0, SENDERS);
      }
      return frame;
    };
    const out = (await alice.encrypt(Uint8Array.of(3), racing))!;
    const header = decodeHeader(out);
    expect(seen.at(-1)).toEqual([header.kid, header.counter]);
    expect(parseKid(header.kid).epoch).toBe(2);
    expect(seen.map(([, c]) => c)).toEqual([0n, 1n, 2n, 3n, 3n]);
  });
});
