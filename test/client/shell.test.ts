// The page's shell with a stand-in relay connection: the core's effects leave in their order, and decisions read the session's state, never the view.
import { beforeAll, describe, expect, it } from 'vitest';
import { generateIdentity, generateRoomSecret, initCrypto, openMetadata } from '../../crypto/index.ts';
import { SignalingError } from '../../protocol/errors.ts';
import type { MediaSession } from '../../client/src/media/media-session.ts';
import { RoomCore } from '../../client/src/session/core/room-core.ts';
import type { Connection } from '../../client/src/session/shell/connection.ts';
import { run } from '../../client/src/session/shell/effects.ts';
import { resume } from '../../client/src/session/shell/rejoin.ts';
import { becomeMember, SessionState } from '../../client/src/session/shell/state.ts';
import { toggleMic } from '../../client/src/session/shell/user-actions.ts';
import type { RoomView } from '../../client/src/session/view.ts';

beforeAll(() => initCrypto());

/** A relay connection that records each request and answers it when the test says. */
class FakeRelay {
  readonly sent: { type: string; payload: unknown; answer: (reply: unknown) => void; refuse: (error: unknown) => void }[] = [];

  connection(): Connection {
    const req = (type: string, payload: unknown) => new Promise((answer, refuse) => this.sent.push({ type, payload, answer, refuse }));
    return { req, connect: () => undefined, close: () => undefined, leave: () => null, drop: () => undefined } as unknown as Connection;
  }

  types(): string[] {
    return this.sent.map((r) => r.type);
  }

  /** Waits until the request of this type is sent (the shell sends some after an await). */
  async next(type: string): Promise<FakeRelay['sent'][number]> {
    await expect.poll(() => this.sent.find((r) => r.type === type)).toBeDefined();
    return this.sent.find((r) => r.type === type)!;
  }
}

function session(): { s: SessionState; relay: FakeRelay; views: RoomView[] } {
  const s = new SessionState('https://localhost:1', generateRoomSecret());
  const relay = new FakeRelay();
  s.connection = relay.connection();
  const views: RoomView[] = [];
  s.subscribe((v) => views.push(v));
  return { s, relay, views };
}

describe('the shell runs the core effects in their order', () => {
  it('a commit sends its header with the first packages, each further message only once the relay took the one before, and requests after it leave in order', async () => {
    const { s, relay } = session();
    // Only a member runs the core's effects: one is made for the type, and these effects do not read it.
    const member = becomeMember(s, new RoomCore(s.keys, generateIdentity(), s.roster, s.rejected));
    const packages = [[{ to: 'p-b', package: 'pb' }], [{ to: 'p-c', package: 'pc' }], [{ to: 'p-d', package: 'pd' }]];
    const done = run(member, [
      { kind: 'request', type: 'key.resend', payload: { to: 'p-x' }, errors: 'ignore' },
      { kind: 'commit', epoch: 3, blob: 'header', fresh: false, packages },
      { kind: 'request', type: 'hand.lower', payload: {}, errors: 'ignore' },
    ]);
    expect(relay.types()).toEqual(['key.resend', 'key.commit', 'hand.lower']);
    expect(relay.sent[1]!.payload).toEqual({ commit: 'header', epoch: 3, packages: packages[0] });
    relay.sent[1]!.answer({});
    await relay.next('key.packages');
    expect(relay.types()).toEqual(['key.resend', 'key.commit', 'hand.lower', 'key.packages']);
    relay.sent[3]!.answer({});
    await expect.poll(() => relay.types().length).toBe(5);
    expect(relay.sent.slice(3).map((r) => r.payload)).toEqual([
      { epoch: 3, packages: packages[1] },
      { epoch: 3, packages: packages[2] },
    ]);
    relay.sent[4]!.answer({});
    await done;
  });
});

describe('decisions read the session state, not the view', () => {
  it('the microphone toggle flips the state it owns, whatever was last published', () => {
    const { s, relay, views } = session();
    const paused: boolean[] = [];
    s.media = { producerId: 'prod', setMicPaused: (p: boolean) => paused.push(p) } as unknown as MediaSession;
    // A stray publish says the microphone is on; the session holds it off, and the person's toggle switches it on.
    s.update({ micOn: true });
    toggleMic(s);
    expect(paused).toEqual([false]);
    expect(relay.types()).toEqual(['producer.resume']);
    expect(views.at(-1)!.micOn).toBe(true);
    toggleMic(s);
    expect(paused).toEqual([false, true]);
    expect(relay.types()).toEqual(['producer.resume', 'producer.pause']);
    expect(views.at(-1)!.micOn).toBe(false);
  });

  it('a rebuild after a relay restart re-creates the room with the title and lock the session holds', async () => {
    const { s, relay } = session();
    s.core = new RoomCore(s.keys, generateIdentity(), s.roster, s.rejected);
    s.me = 'p-host';
    s.myName = 'host';
    s.announcement = 'announcement';
    // The distributor alone: first in the hand-over order, it re-creates the room at once.
    s.core.distributeFresh(new Map([[s.core.agent.me, 'host' as const]]));
    s.phase = { kind: 'room' };
    s.title = 'Tea at five';
    s.locked = true;
    s.update({ title: 'not the title', locked: false });
    const resumed = resume(s);
    (await relay.next('room.join')).refuse(new SignalingError('ROOM_NOT_FOUND', 'the relay restarted'));
    const create = await relay.next('room.create');
    const payload = create.payload as { roomId: string; sealedTitle: string; locked: boolean };
    expect(payload.roomId).toBe(s.keys.roomId);
    expect(payload.locked).toBe(true);
    expect(openMetadata<string>(s.keys.metaKey, s.keys.roomId, 'room-title', payload.sealedTitle)).toBe('Tea at five');
    // The test stops here: a refusal the rebuild does not retry ends the flow with a notice.
    create.refuse(new SignalingError('FORBIDDEN', 'stop'));
    await resumed;
  });

  it('a resume the relay could not complete (its room moving to another relay) is asked again, with no notice, until it is back', async () => {
    const { s, relay, views } = session();
    s.core = new RoomCore(s.keys, generateIdentity(), s.roster, s.rejected);
    s.me = 'p-listener';
    s.announcement = 'announcement';
    s.resumeToken = 'token';
    s.phase = { kind: 'room' };
    s.update({ reconnecting: true });
    const resumed = resume(s);
    (await relay.next('room.join')).refuse(new SignalingError('INTERNAL', 'the relay holding this room did not answer; try again'));
    await expect.poll(() => relay.sent.filter((r) => r.type === 'room.join').length, { timeout: 5_000 }).toBe(2);
    expect(views.at(-1)!.notice).toBeNull();
    expect(views.at(-1)!.reconnecting).toBe(true);
    const again = relay.sent.filter((r) => r.type === 'room.join')[1]!;
    expect(again.payload).toMatchObject({ roomId: s.keys.roomId, resumeToken: 'token' });
    again.answer({
      participantId: 'p-listener',
      resumeToken: 'token',
      role: 'listener',
      room: { roomId: s.keys.roomId, sealedTitle: 'x', locked: false, participants: [], audienceCount: 1, lobby: [] },
      routerRtpCapabilities: {},
      keyBatchMs: 500,
    });
    await resumed;
    expect(views.at(-1)!.notice).toBeNull();
    expect(views.at(-1)!.reconnecting).toBe(false);
  });

  it('a resume refused for good (not a relay that could not complete it) is not asked again: its refusal is shown', async () => {
    const { s, relay, views } = session();
    s.core = new RoomCore(s.keys, generateIdentity(), s.roster, s.rejected);
    s.me = 'p-listener';
    s.announcement = 'announcement';
    s.phase = { kind: 'room' };
    const resumed = resume(s);
    (await relay.next('room.join')).refuse(new SignalingError('FORBIDDEN', 'no'));
    await resumed;
    expect(relay.types()).toEqual(['room.join']);
    expect(views.at(-1)!.notice).toBe('no');
  });
});
