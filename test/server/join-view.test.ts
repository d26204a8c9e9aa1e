import { describe, expect, it } from 'vitest';
import { announcementSignKey } from '../../crypto/announcement.ts';
import { JoinResult } from '../../protocol/messages.ts';
import { edgeDecision, edgeJoinReply, parseJoinView, type JoinView } from '../../server/cluster/join-view.ts';
import { announce, newRoom } from '../helpers/relay.ts';

const host = { participantId: 'host-participant', role: 'host', announcement: 'aG9zdA', joinedSeq: 1, handRaisedSeq: null, muted: false, producerIds: ['producer-1'] };
const fields = (over: { meta?: object; view?: object; count?: object } = {}) => ({
  meta: JSON.stringify({ origin: 'relay-a', sealedTitle: 'c2VhbGVk', locked: false, lobby: [], banned: [], formerIds: [], ...over.meta }),
  view: JSON.stringify({ stage: [host], caps: { codecs: [] }, keyBatchMs: 500, ...over.view }),
  count: JSON.stringify({ audience: 4, size: 5, seq: 9, ...over.count }),
});

describe('an edge’s join view and its decision', () => {
  it('reads the origin’s fields, and gives up (null: ask the origin) on any field missing or malformed', () => {
    const view = parseJoinView('room', 'relay-a', fields())!;
    expect(view).toMatchObject({ roomId: 'room', origin: 'relay-a', locked: false, audience: 4, size: 5, seq: 9, keyBatchMs: 500 });
    expect(view.stage).toEqual([host]);
    expect(parseJoinView('room', 'relay-a', { ...fields(), view: null })).toBeNull();
    expect(parseJoinView('room', 'relay-a', { ...fields(), count: '{"audience":-1,"size":5,"seq":9}' })).toBeNull();
    expect(parseJoinView('room', 'relay-a', { ...fields(), meta: 'not json' })).toBeNull();
    expect(parseJoinView('room', 'relay-a', fields({ view: { stage: [{ ...host, role: 'owner' }] } }))).toBeNull();
    // The stage is named by its bytes: the origin compares the name with its own stage when it takes the newcomer in.
    expect(parseJoinView('room', 'relay-a', fields({ view: { stage: [] } }))!.stageHash).not.toBe(view.stageHash);
    expect(parseJoinView('room', 'relay-a', fields({ count: { audience: 7 } }))!.stageHash).toBe(view.stageHash);
  });

  it('admits only a newcomer’s join of an open room it can answer, refuses as the origin would, and leaves the rest to the origin', async () => {
    const room = await newRoom();
    const announcement = announce(room, 'Listener');
    const view = parseJoinView('room', 'relay-a', fields())!;
    const decide = (v: JoinView | null, request: { announcement: string; resumeToken?: string }, max = 10) => edgeDecision(v, request, max);
    expect(decide(view, { announcement })).toEqual({ kind: 'admit' });
    expect(decide(null, { announcement })).toEqual({ kind: 'origin' });
    expect(decide(view, { announcement, resumeToken: 'token' })).toEqual({ kind: 'origin' });
    expect(decide({ ...view, locked: true }, { announcement })).toEqual({ kind: 'origin' });
    const refusal = (d: ReturnType<typeof edgeDecision>) => (d.kind === 'refuse' ? d.error.code : d.kind);
    expect(refusal(decide({ ...view, banned: new Set([announcementSignKey(announcement)!]) }, { announcement }))).toBe('IDENTITY_BANNED');
    expect(refusal(decide(view, { announcement: 'bm90IGFuIGFubm91bmNlbWVudA' }))).toBe('BAD_REQUEST');
    expect(refusal(decide(view, { announcement }, 5))).toBe('ROOM_FULL');
  });

  it('answers with a join reply the client’s schema takes: the stage shown, itself after it, the next join sequence', async () => {
    const room = await newRoom();
    const announcement = announce(room, 'Listener');
    const view = parseJoinView('room-id-for-the-test-x', 'relay-a', fields())!;
    const reply = edgeJoinReply(view, { participantId: 'newcomer-id', resumeToken: 'token', announcement });
    expect(JoinResult.safeParse(reply).success).toBe(true);
    expect(reply.room.participants).toEqual([host, { participantId: 'newcomer-id', role: 'listener', announcement, joinedSeq: 10, handRaisedSeq: null, muted: false, producerIds: [] }]);
    expect(reply.room.audienceCount).toBe(5);
  });
});
