import { sha256 } from '@noble/hashes/sha2.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateIdentity, initCrypto, randomBytes, RoomMessageError, sealRoomMessage, utf8, type Identity, type RosterRole } from '../../crypto/index.ts';
import { ROOM_MESSAGE_RATE } from '../../protocol/messages.ts';
import { REACTIONS, RoomLife, RoomLifeError, ROOM_LIFE_LIMITS } from '../../client/src/session/room-life.ts';

const ROOM = 'L'.repeat(22);
let host: Identity;
let listener: Identity;
let other: Identity;
let roles: Map<string, RosterRole>;
const clock = { t: 1_000_000 };
/** Whether the distributor confirmed each member's epoch lately (freshness.ts): what the session tells room life. */
let fresh = true;
/** Each test epoch's commit hash, a stand-in made from its secret: one secret, one commit. */
const H = (secret: Uint8Array) => sha256(secret);

beforeAll(async () => {
  await initCrypto();
  host = generateIdentity();
  listener = generateIdentity();
  other = generateIdentity();
});

/** A member's room life over a shared key table and a signed stage the test sets. */
function member(identity: Identity, now: () => number = () => clock.t): RoomLife {
  const everyone = [host, listener, other];
  return new RoomLife(
    {
      roomId: () => ROOM,
      identity,
      signKeyOf: (id) => everyone.find((m) => m.memberKeyId === id)?.signPublicKey ?? null,
      roleOf: (id) => roles.get(id) ?? 'listener',
      fresh: () => fresh,
    },
    now,
  );
}

function room(epoch = 5, secret = randomBytes(32)) {
  roles = new Map([[host.memberKeyId, 'host']]);
  fresh = true;
  const h = member(host);
  const l = member(listener);
  const o = member(other);
  for (const m of [h, l, o]) m.setEpoch(epoch, secret, H(secret));
  return { h, l, o, secret };
}

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    if (error instanceof RoomLifeError || error instanceof RoomMessageError) return error.code;
    throw error;
  }
  return 'none';
};

describe('room life', () => {
  it('chat, questions and reactions reach others with their verified sender', () => {
    const { h, l } = room();
    h.receive(l.chat('  Hello from the back  '));
    h.receive(l.chat('Will there be a recording?', true));
    expect(h.messages.map(({ sender, text, question }) => ({ sender, text, question }))).toEqual([
      { sender: listener.memberKeyId, text: 'Hello from the back', question: false },
      { sender: listener.memberKeyId, text: 'Will there be a recording?', question: true },
    ]);
    // The sender sees its own at once (the relay does not echo it).
    expect(l.messages).toHaveLength(2);
    h.receive(l.reaction('🎉'));
    expect(h.reactions()).toMatchObject([{ sender: listener.memberKeyId, emoji: '🎉' }]);
    clock.t += ROOM_LIFE_LIMITS.reactionMs + 1;
    expect(h.reactions()).toEqual([]);
    expect(code(() => l.reaction('💩'))).toBe('UNKNOWN_REACTION');
    expect(REACTIONS).toHaveLength(8);
  });

  it('a replayed message is refused', () => {
    const { h, l } = room();
    const blob = l.chat('once');
    h.receive(blob);
    expect(code(() => h.receive(blob))).toBe('REPLAY');
    expect(h.messages).toHaveLength(1);
  });

  it("a relay cannot forge a sender: a message signed by another member under a victim's name does not open", () => {
    const { h, secret } = room();
    const forged = sealRoomMessage({ roomId: ROOM, epoch: 5, epochSecret: secret, commitHash: H(secret), sender: { ...other, memberKeyId: host.memberKeyId }, kind: 'pin', payload: Uint8Array.of(1, ...utf8.encode('forged')) });
    const l = member(listener);
    l.setEpoch(5, secret, H(secret));
    expect(code(() => l.receive(forged))).toBe('ROOM_MESSAGE_INVALID');
    expect(l.pinned).toBeNull();
    // Nor can it seal anything without the epoch secret.
    const outsider = sealRoomMessage({ roomId: ROOM, epoch: 5, epochSecret: randomBytes(32), commitHash: randomBytes(32), sender: host, kind: 'chat', payload: Uint8Array.of(0, 65) });
    expect(code(() => h.receive(outsider))).toBe('ROOM_MESSAGE_INVALID');
  });

  it('only the host or a moderator of the signed stage pins; everyone sees the pin', () => {
    const { h, l, o } = room();
    expect(code(() => l.pin({ kind: 'question', text: 'me first' }))).toBe('FORBIDDEN');
    // A listener that pins anyway (a modified page) is refused by every receiver.
    roles.set(listener.memberKeyId, 'moderator');
    const sneaky = l.pin({ kind: 'question', text: 'me first' });
    roles.set(listener.memberKeyId, 'listener');
    expect(code(() => o.receive(sneaky))).toBe('FORBIDDEN');
    expect(o.pinned).toBeNull();
    const pin = h.pin({ kind: 'question', text: 'Will there be a recording?' });
    for (const m of [l, o]) {
      m.receive(pin);
      expect(m.pinned).toMatchObject({ kind: 'question', text: 'Will there be a recording?', by: host.memberKeyId });
    }
    roles.set(other.memberKeyId, 'moderator');
    expect(code(() => o.pin({ kind: 'link', text: 'javascript:alert(1)' }))).toBe('NOT_A_LINK');
    clock.t += 1;
    l.receive(o.pin({ kind: 'link', text: 'https://example.org/notes' }));
    expect(l.pinned).toMatchObject({ kind: 'link', by: other.memberKeyId });
    clock.t += 1;
    l.receive(h.pin(null));
    expect(l.pinned).toBeNull();
  });

  it('an older pin or recording notice delivered late changes nothing', () => {
    const { h, l } = room();
    const first = h.pin({ kind: 'question', text: 'first' });
    clock.t += 10;
    const second = h.pin({ kind: 'question', text: 'second' });
    l.receive(second);
    expect(code(() => l.receive(first))).toBe('STALE');
    expect(l.pinned?.text).toBe('second');
    const start = h.recordingNotice(true);
    clock.t += 10;
    const stop = h.recordingNotice(false);
    l.receive(stop);
    expect(code(() => l.receive(start))).toBe('STALE');
    expect(l.recording).toBeNull();
  });

  it('a pin or recording notice dated in the future counts as of its arrival plus a little: it can still be taken down', () => {
    const { l, secret } = room();
    roles.set(other.memberKeyId, 'moderator');
    // A moderator's and the host's pages whose clocks run an hour ahead (or lie).
    const ahead = () => clock.t + 3_600_000;
    const mod = member(other, ahead);
    const early = member(host, ahead);
    for (const m of [mod, early]) m.setEpoch(5, secret, H(secret));
    const h = member(host);
    h.setEpoch(5, secret, H(secret));
    l.receive(mod.pin({ kind: 'question', text: 'from the future' }));
    l.receive(early.recordingNotice(true));
    // Taken down by a page with the right clock: refused only until the receiver's clock passes the cap.
    clock.t += ROOM_LIFE_LIMITS.aheadMs / 2;
    expect(code(() => l.receive(h.pin(null)))).toBe('STALE');
    expect(code(() => l.receive(h.recordingNotice(false)))).toBe('STALE');
    clock.t += ROOM_LIFE_LIMITS.aheadMs;
    l.receive(h.pin(null));
    l.receive(h.recordingNotice(false));
    expect(l.pinned).toBeNull();
    expect(l.recording).toBeNull();
  });

  it('only the host announces a recording; members see it until it stops or the host leaves', () => {
    const { h, l, o } = room();
    expect(code(() => l.recordingNotice(true))).toBe('FORBIDDEN');
    o.receive(h.recordingNotice(true));
    expect(o.recording).toMatchObject({ by: host.memberKeyId });
    o.forget(host.memberKeyId);
    expect(o.recording).toBeNull();
    roles.set(listener.memberKeyId, 'host');
    const fake = l.recordingNotice(false);
    roles.set(listener.memberKeyId, 'listener');
    expect(code(() => h.receive(fake))).toBe('FORBIDDEN');
  });

  it('a member plays audio only once it knows from the host whether it records: on or off, not a forgery, not before', () => {
    const { h, l, o } = room();
    const stage = [{ memberKeyId: host.memberKeyId, role: 'host' as const }];
    expect(h.mayPlay(stage)).toBe(true);
    expect(l.mayPlay(stage)).toBe(false);
    // A notice that is not the host's opens nothing: it is refused, and the audio stays held.
    roles.set(other.memberKeyId, 'host');
    const forged = o.recordingNotice(true);
    roles.set(other.memberKeyId, 'listener');
    expect(code(() => l.receive(forged))).toBe('FORBIDDEN');
    expect(l.mayPlay(stage)).toBe(false);
    l.receive(h.recordingNotice(false));
    expect(l.mayPlay(stage)).toBe(true);
    expect(l.recording).toBeNull();
    // A signed stage without a host has nobody who could record or tell: nothing to wait for.
    expect(o.mayPlay([{ memberKeyId: other.memberKeyId, role: 'moderator' }])).toBe(true);
    // A kick or the room's end forgets the keys and what was known.
    l.clear();
    expect(l.mayPlay(stage)).toBe(false);
  });

  it('limits length, refuses empty text, and rate-limits the sender before the relay would', () => {
    const { l } = room();
    expect(code(() => l.chat('   '))).toBe('EMPTY');
    expect(code(() => l.chat('字'.repeat(ROOM_LIFE_LIMITS.textChars + 1)))).toBe('TOO_LONG');
    expect(code(() => l.chat('字'.repeat(ROOM_LIFE_LIMITS.textChars)))).toBe('none');
    for (let i = 1; i < ROOM_MESSAGE_RATE.burst; i++) l.reaction('👏');
    expect(code(() => l.reaction('👏'))).toBe('RATE_LIMITED');
    // Nothing already sent is lost, and the allowance comes back with time.
    expect(l.messages).toHaveLength(1);
    clock.t += 1_000;
    expect(code(() => l.reaction('👏'))).toBe('none');
  });

  it("receivers show at most the room's rate per sender, however the relay bunches messages", () => {
    const secret = randomBytes(32);
    const { h } = room(5, secret);
    const blobs = Array.from({ length: ROOM_LIFE_LIMITS.receiveBurst + 3 }, (_, i) =>
      sealRoomMessage({ roomId: ROOM, epoch: 5, epochSecret: secret, commitHash: H(secret), sender: listener, kind: 'chat', payload: Uint8Array.of(0, ...utf8.encode(`m${i}`)) }),
    );
    const codes = blobs.map((b) => code(() => h.receive(b)));
    expect(codes.filter((c) => c === 'none')).toHaveLength(ROOM_LIFE_LIMITS.receiveBurst);
    expect(codes.slice(ROOM_LIFE_LIMITS.receiveBurst)).toEqual(['RATE_LIMITED', 'RATE_LIMITED', 'RATE_LIMITED']);
  });

  it('keeps the previous epoch for a grace period, holds messages of an epoch not yet installed, and forgets keys on clear', () => {
    const first = randomBytes(32);
    const second = randomBytes(32);
    const { h, l } = room(5, first);
    const old = l.chat('sent just before the rekey');
    h.setEpoch(6, second, H(second));
    h.receive(old);
    l.setEpoch(6, second, H(second));
    const early = l.chat('sent under epoch 6');
    const late = member(other);
    late.setEpoch(5, first, H(first));
    expect(late.receive(early)).toBeNull();
    expect(late.setEpoch(6, second, H(second)).opened.map((m) => m.epoch)).toEqual([6]);
    expect(late.messages.map((m) => m.text)).toEqual(['sent under epoch 6']);
    const stale = sealRoomMessage({ roomId: ROOM, epoch: 5, epochSecret: first, commitHash: H(first), sender: listener, kind: 'chat', payload: Uint8Array.of(0, 65) });
    clock.t += ROOM_LIFE_LIMITS.previousEpochGraceMs + 1;
    expect(code(() => h.receive(stale))).toBe('OLD_EPOCH');
    h.clear();
    expect(code(() => h.chat('x'))).toBe('NO_EPOCH');
  });

  it('a member whose epoch the distributor has not confirmed lately seals nothing, and spends none of its rate', () => {
    const { h, l } = room();
    fresh = false;
    expect(code(() => l.chat('kept on the epoch before a kick'))).toBe('WAITING_FOR_KEY');
    expect(code(() => l.reaction('👏'))).toBe('WAITING_FOR_KEY');
    expect(code(() => h.pin({ kind: 'question', text: 'pinned' }))).toBe('WAITING_FOR_KEY');
    expect(code(() => h.recordingNotice(true))).toBe('WAITING_FOR_KEY');
    // What it may not send it may still not send: the checks that say so come first.
    expect(code(() => l.chat('  '))).toBe('EMPTY');
    expect(code(() => l.pin({ kind: 'question', text: 'x' }))).toBe('FORBIDDEN');
    expect(l.messages).toEqual([]);
    fresh = true;
    for (let i = 0; i < ROOM_MESSAGE_RATE.burst; i++) h.receive(l.reaction('👏'));
    expect(code(() => l.reaction('👏'))).toBe('RATE_LIMITED');
  });

  it('refuses a message of another lineage under the same epoch number, and keeps a newcomer there silent', () => {
    const real = randomBytes(32);
    const { h } = room(5, real);
    const notice = h.recordingNotice(false);
    const chat = h.chat('said in the real room');
    // A newcomer a colluding member keyed on its own lineage, whose stage names the real host.
    const newcomer = member(other);
    const fork = randomBytes(32);
    newcomer.setEpoch(5, fork, H(fork));
    for (const blob of [notice, chat]) expect(code(() => newcomer.receive(blob))).toBe('ROOM_MESSAGE_INVALID');
    // Even under the fork's own key, what the host signed for its commit does not verify for another.
    const sameKeyOtherCommit = member(other);
    sameKeyOtherCommit.setEpoch(5, real, randomBytes(32));
    for (const blob of [notice, chat]) expect(code(() => sameKeyOtherCommit.receive(blob))).toBe('ROOM_MESSAGE_INVALID');
    expect(newcomer.mayPlay([{ memberKeyId: host.memberKeyId, role: 'host' }])).toBe(false);
    expect(newcomer.messages).toEqual([]);
  });
});
