// Room life, pure: reactions, chat and questions, pins, recording notices; their limits, rates, authority, replays and keys.
import { openRoomMessage, roomMessageEpoch, sealRoomMessage, utf8, type Identity, type RoomMessage, type RoomMessageKind, type RosterRole } from '../../../crypto/index.ts';
import { ROOM_MESSAGE_RATE } from '../../../protocol/messages.ts';

/** The small fixed set of reactions: a reaction travels as an index into it. */
export const REACTIONS = ['👏', '❤️', '😂', '😮', '👍', '🙏', '🎉', '🔥'] as const;
export type Reaction = (typeof REACTIONS)[number];

export const ROOM_LIFE_LIMITS = {
  /** Listeners whose signing key a page keeps from the announcements their messages carried (the newest). */
  knownSenders: 1_000,
  /** Characters (code points) in a chat message, a question or a pinned text. */
  textChars: 500,
  /** Chat messages a page keeps; older ones scroll away (the relay keeps none). */
  keepMessages: 200,
  /** How long a reaction floats by its sender. */
  reactionMs: 4_000,
  /** Messages sealed under the previous epoch still open this long after a newer one arrives (joins and leaves rekey often). */
  previousEpochGraceMs: 10_000,
  /** Messages naming an epoch this member has not installed yet wait for its commit, at most this many. */
  held: 32,
  /** What receivers show per sender: twice the relay's burst, so a relay that bunches an honest sender's messages loses none. */
  receiveBurst: ROOM_MESSAGE_RATE.burst * 2,
  /** The host sends a recording notice its rate refused again after this long: newcomers wait for one to play audio. */
  announceRetryMs: 1_000 / ROOM_MESSAGE_RATE.perSecond + 100,
  /**
   * Pins and recording notices are ordered by their signed time, but one dated past the receiver's clock counts as of
   * this much later than its arrival: otherwise a pin dated in the future (a wrong clock) could never be taken down.
   */
  aheadMs: 5_000,
} as const;

export type RoomLifeErrorCode = 'NO_EPOCH' | 'WAITING_FOR_KEY' | 'EMPTY' | 'TOO_LONG' | 'RATE_LIMITED' | 'FORBIDDEN' | 'UNKNOWN_REACTION' | 'NOT_A_LINK' | 'REPLAY' | 'OLD_EPOCH' | 'MALFORMED' | 'STALE';

/** A message this member refuses to send or to show, with a code the page turns into words. */
export class RoomLifeError extends Error {
  readonly code: RoomLifeErrorCode;
  constructor(code: RoomLifeErrorCode, message: string) {
    super(message);
    this.code = code;
    this.name = 'RoomLifeError';
  }
}

export interface ChatEntry {
  id: string;
  sender: string;
  text: string;
  question: boolean;
  sentAt: number;
}

export interface Pinned {
  kind: 'question' | 'link';
  text: string;
  /** memberKeyId of the host or moderator who pinned it. */
  by: string;
  sentAt: number;
}

export interface ReactionEntry {
  id: string;
  sender: string;
  emoji: Reaction;
  until: number;
}

export interface Recording {
  by: string;
  since: number;
}

/** What room life needs from membership: the signed stage and the verified keys, never the relay's word. */
export interface RoomLifeContext {
  roomId(): string;
  identity: Identity;
  /** The verified signing key of a member, or null for anyone this member does not know. */
  signKeyOf(memberKeyId: string): Uint8Array | null;
  /** The role the current signed stage gives a member (listener off stage), null before any epoch. */
  roleOf(memberKeyId: string): RosterRole | null;
  /**
   * Whether this member holds proof, fresh from the distributor, that its current epoch has not been replaced
   * (freshness.ts; the distributor itself always does). Nothing is sealed without it: a member the relay keeps on the
   * epoch before a kick would otherwise go on writing to the kicked member.
   */
  fresh(): boolean;
}

/** A steady rate with room for a burst; time comes from the caller, so the rule is testable without clocks. */
class Bucket {
  private tokens: number;
  private last: number;
  private readonly perSecond: number;
  private readonly burst: number;
  constructor(perSecond: number, burst: number, now: number) {
    this.perSecond = perSecond;
    this.burst = burst;
    this.tokens = burst;
    this.last = now;
  }
  take(now: number): boolean {
    this.tokens = Math.min(this.burst, this.tokens + (Math.max(0, now - this.last) / 1000) * this.perSecond);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

const QUESTION = 1;
const PIN_KINDS = [null, 'question', 'link'] as const;

function textOf(text: string): Uint8Array {
  const trimmed = text.trim();
  if (!trimmed) throw new RoomLifeError('EMPTY', 'an empty message is not sent');
  if ([...trimmed].length > ROOM_LIFE_LIMITS.textChars) throw new RoomLifeError('TOO_LONG', `at most ${ROOM_LIFE_LIMITS.textChars} characters`);
  return utf8.encode(trimmed);
}

function isLink(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === 'https:' || url.protocol === 'http:';
  } catch {
    return false;
  }
}

export class RoomLife {
  private readonly ctx: RoomLifeContext;
  private readonly now: () => number;
  private current: { epoch: number; secret: Uint8Array; hash: Uint8Array } | null = null;
  private previous: { epoch: number; secret: Uint8Array; hash: Uint8Array; until: number } | null = null;
  private readonly held: string[] = [];
  private readonly seen = new Set<string>();
  private readonly sendBucket: Bucket;
  private readonly receiveBuckets = new Map<string, Bucket>();
  messages: ChatEntry[] = [];
  pinned: Pinned | null = null;
  recording: Recording | null = null;
  private reactionList: ReactionEntry[] = [];
  /** The signed time (capped: aheadMs) of the last pin and recording notice applied: an older one the relay replays late changes nothing. */
  private pinAt = -1;
  private recordingAt = -1;
  /** A genuine recording notice (on or off) from the host opened since this member joined: what it hears is announced. */
  private recordingKnown = false;

  constructor(ctx: RoomLifeContext, now: () => number = Date.now) {
    this.ctx = ctx;
    this.now = now;
    this.sendBucket = new Bucket(ROOM_MESSAGE_RATE.perSecond, ROOM_MESSAGE_RATE.burst, now());
  }

  /**
   * A new epoch (its secret and the hash of the commit that made it): messages are sealed under it from now on; the
   * previous one still opens for a grace period. Returns what arrived for this epoch before its commit did.
   */
  setEpoch(epoch: number, secret: Uint8Array, hash: Uint8Array): { opened: RoomMessage[]; refused: unknown[] } {
    if (this.current && epoch <= this.current.epoch) return { opened: [], refused: [] };
    if (this.current) this.previous = { ...this.current, until: this.now() + ROOM_LIFE_LIMITS.previousEpochGraceMs };
    this.current = { epoch, secret, hash };
    const waiting = this.held.splice(0);
    const opened: RoomMessage[] = [];
    const refused: unknown[] = [];
    for (const blob of waiting) {
      try {
        const m = this.receive(blob);
        if (m) opened.push(m);
      } catch (error) {
        refused.push(error);
      }
    }
    return { opened, refused };
  }

  /** Forgets every key (a kick, the end of the room): nothing more opens. */
  clear(): void {
    this.current = null;
    this.previous = null;
    this.held.length = 0;
    this.recordingKnown = false;
  }

  /**
   * Whether this member may play the room's decrypted audio: only once it knows whether the host records, from the
   * host's own signed notice (the host sends one with every epoch), so a newcomer is shown a recording before it hears
   * anything. The host knows its own state; a signed stage with no host has nobody to record or to tell. Everything
   * here comes from signatures, so a relay that withholds the notice keeps the audio silent, never unannounced.
   */
  mayPlay(stage: readonly { memberKeyId: string; role: RosterRole }[]): boolean {
    const hosts = stage.filter((m) => m.role === 'host');
    return this.recordingKnown || hosts.length === 0 || hosts.some((m) => m.memberKeyId === this.ctx.identity.memberKeyId);
  }

  // ---- sending: each returns the sealed blob for the relay, already applied to this member's own view ----

  reaction(emoji: string): string {
    const index = REACTIONS.indexOf(emoji as Reaction);
    if (index < 0) throw new RoomLifeError('UNKNOWN_REACTION', "not one of the room's reactions");
    return this.send('reaction', Uint8Array.of(index));
  }

  chat(text: string, question = false): string {
    const body = textOf(text);
    const payload = new Uint8Array(1 + body.length);
    payload[0] = question ? QUESTION : 0;
    payload.set(body, 1);
    return this.send('chat', payload);
  }

  /** Host and moderators: pins a question or a link for everyone; null takes the pin down. */
  pin(pin: { kind: 'question' | 'link'; text: string } | null): string {
    this.requireModerator(this.ctx.identity.memberKeyId);
    if (!pin) return this.send('pin', Uint8Array.of(0));
    const body = textOf(pin.text);
    if (pin.kind === 'link' && !isLink(pin.text.trim())) throw new RoomLifeError('NOT_A_LINK', 'a pinned link starts with https:// or http://');
    const payload = new Uint8Array(1 + body.length);
    payload[0] = PIN_KINDS.indexOf(pin.kind);
    payload.set(body, 1);
    return this.send('pin', payload);
  }

  /** Host: tells everyone whether it records; sent at once on a change and again with every epoch, on or off. */
  recordingNotice(on: boolean): string {
    if (this.ctx.roleOf(this.ctx.identity.memberKeyId) !== 'host') throw new RoomLifeError('FORBIDDEN', 'only the host records the room');
    return this.send('recording', Uint8Array.of(on ? 1 : 0));
  }

  private send(kind: RoomMessageKind, payload: Uint8Array): string {
    const current = this.current;
    if (!current) throw new RoomLifeError('NO_EPOCH', 'no key yet: wait until the room is encrypted');
    // Before the rate: a message held for the confirmation is counted once, when it is sealed.
    if (!this.ctx.fresh()) throw new RoomLifeError('WAITING_FOR_KEY', 'the distributor has not confirmed this epoch lately');
    if (!this.sendBucket.take(this.now())) throw new RoomLifeError('RATE_LIMITED', `at most ${ROOM_MESSAGE_RATE.perSecond} messages per second`);
    const sealing = { roomId: this.ctx.roomId(), epoch: current.epoch, epochSecret: current.secret, commitHash: current.hash };
    const blob = sealRoomMessage({ ...sealing, sender: this.ctx.identity, kind, payload, sentAt: this.now() });
    const opened = openRoomMessage({ ...sealing, blob, signKeyOf: (id) => this.ctx.signKeyOf(id) });
    this.seen.add(opened.id);
    this.apply(opened);
    return blob;
  }

  // ---- receiving ----

  /**
   * Opens a message the relay passed on and applies it. Null when it waits for its epoch's commit; throws
   * RoomMessageError for anything not genuine and RoomLifeError for replays, floods and missing authority.
   */
  receive(blob: string): RoomMessage | null {
    const epoch = roomMessageEpoch(blob);
    const current = this.current;
    if (!current || epoch > current.epoch) {
      this.held.push(blob);
      if (this.held.length > ROOM_LIFE_LIMITS.held) this.held.shift();
      return null;
    }
    const previous = this.previous && this.previous.until >= this.now() ? this.previous : null;
    const held = epoch === current.epoch ? current : epoch === previous?.epoch ? previous : null;
    if (!held) throw new RoomLifeError('OLD_EPOCH', `no key for epoch ${epoch} any more`);
    const m = openRoomMessage({ roomId: this.ctx.roomId(), blob, epochSecret: held.secret, commitHash: held.hash, signKeyOf: (id) => this.ctx.signKeyOf(id) });
    if (this.seen.has(m.id)) throw new RoomLifeError('REPLAY', 'this message was shown already');
    let bucket = this.receiveBuckets.get(m.sender);
    if (!bucket) this.receiveBuckets.set(m.sender, (bucket = new Bucket(ROOM_MESSAGE_RATE.perSecond, ROOM_LIFE_LIMITS.receiveBurst, this.now())));
    if (!bucket.take(this.now())) throw new RoomLifeError('RATE_LIMITED', 'this member sends faster than the room allows');
    this.seen.add(m.id);
    this.apply(m);
    return m;
  }

  private requireModerator(memberKeyId: string): void {
    const role = this.ctx.roleOf(memberKeyId);
    if (role !== 'host' && role !== 'moderator') throw new RoomLifeError('FORBIDDEN', 'only the host and moderators pin');
  }

  private apply(m: RoomMessage): void {
    const p = m.payload;
    const at = Math.min(m.sentAt, this.now() + ROOM_LIFE_LIMITS.aheadMs);
    switch (m.kind) {
      case 'reaction': {
        const emoji = p.length === 1 ? REACTIONS[p[0]!] : undefined;
        if (!emoji) throw new RoomLifeError('MALFORMED', 'unknown reaction');
        this.reactionList = [...this.reactions(), { id: m.id, sender: m.sender, emoji, until: this.now() + ROOM_LIFE_LIMITS.reactionMs }];
        return;
      }
      case 'chat': {
        if (p.length < 2 || (p[0]! & ~QUESTION) !== 0) throw new RoomLifeError('MALFORMED', 'not a chat message');
        const text = this.text(p.subarray(1));
        this.messages = [...this.messages, { id: m.id, sender: m.sender, text, question: p[0] === QUESTION, sentAt: m.sentAt }].slice(-ROOM_LIFE_LIMITS.keepMessages);
        return;
      }
      case 'pin': {
        this.requireModerator(m.sender);
        const kind = PIN_KINDS[p[0] ?? -1];
        if (kind === undefined || (kind === null && p.length !== 1)) throw new RoomLifeError('MALFORMED', 'not a pin');
        const pinned = kind === null ? null : { kind, text: this.text(p.subarray(1)), by: m.sender, sentAt: m.sentAt };
        if (pinned?.kind === 'link' && !isLink(pinned.text)) throw new RoomLifeError('NOT_A_LINK', 'a pinned link must be a web address');
        if (at < this.pinAt) throw new RoomLifeError('STALE', 'a newer pin is shown');
        this.pinAt = at;
        this.pinned = pinned;
        return;
      }
      case 'recording': {
        if (this.ctx.roleOf(m.sender) !== 'host') throw new RoomLifeError('FORBIDDEN', 'only the host records the room');
        if (p.length !== 1 || p[0]! > 1) throw new RoomLifeError('MALFORMED', 'not a recording notice');
        if (at < this.recordingAt) throw new RoomLifeError('STALE', 'a newer recording notice is shown');
        this.recordingAt = at;
        this.recordingKnown = true;
        this.recording = p[0] === 1 ? { by: m.sender, since: this.recording?.since ?? m.sentAt } : null;
        return;
      }
    }
  }

  private text(bytes: Uint8Array): string {
    let text: string;
    try {
      text = utf8.decode(bytes);
    } catch {
      throw new RoomLifeError('MALFORMED', 'text is not UTF-8');
    }
    if (!text.trim() || [...text].length > ROOM_LIFE_LIMITS.textChars) throw new RoomLifeError('MALFORMED', 'text out of bounds');
    return text;
  }

  /** Reactions still floating now. */
  reactions(): ReactionEntry[] {
    const now = this.now();
    return this.reactionList.filter((r) => r.until > now);
  }

  /** The host recording left: nobody records any more. */
  forget(memberKeyId: string): void {
    if (this.recording?.by === memberKeyId) this.recording = null;
  }
}
