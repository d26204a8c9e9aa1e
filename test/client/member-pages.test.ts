import { describe, expect, it } from 'vitest';
import { MemberPages } from '../../client/src/session/member-pages.ts';
import type { ParticipantSnapshot } from '../../protocol/messages.ts';

const member = (id: string): ParticipantSnapshot => ({ participantId: id, role: 'listener', announcement: 'a', joinedSeq: 1, handRaisedSeq: null, muted: false, producerIds: [] });

describe('pages of room.members', () => {
  it('gives the whole list once, when its last page is in', () => {
    const pages = new MemberPages();
    expect(pages.add({ participants: [member('a'), member('b')], page: { index: 0, of: 3 } })).toBeNull();
    expect(pages.add({ participants: [member('c')], page: { index: 1, of: 3 } })).toBeNull();
    expect(pages.add({ participants: [member('d')], page: { index: 2, of: 3 } })?.map((m) => m.participantId)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('takes a list without pages, or of one page, as whole', () => {
    const pages = new MemberPages();
    expect(pages.add({ participants: [member('a')] })).toHaveLength(1);
    expect(pages.add({ participants: [member('b')], page: { index: 0, of: 1 } })).toHaveLength(1);
  });

  it('drops a list cut short: a page out of turn gives nothing until a new first page, which starts afresh', () => {
    const pages = new MemberPages();
    expect(pages.add({ participants: [member('a')], page: { index: 0, of: 3 } })).toBeNull();
    expect(pages.add({ participants: [member('c')], page: { index: 2, of: 3 } })).toBeNull();
    expect(pages.add({ participants: [member('x')], page: { index: 1, of: 2 } })).toBeNull();
    expect(pages.add({ participants: [member('e')], page: { index: 0, of: 2 } })).toBeNull();
    expect(pages.add({ participants: [member('f')], page: { index: 1, of: 2 } })?.map((m) => m.participantId)).toEqual(['e', 'f']);
  });
});
