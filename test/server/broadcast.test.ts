import type { types } from 'mediasoup';
import { describe, expect, it } from 'vitest';
import { Participant } from '../../server/rooms/participant.ts';
import type { OutboundSocket } from '../../server/signaling/session.ts';
import { Room } from '../../server/rooms/room.ts';

function socket(id: string, log: string[]): OutboundSocket {
  return { id, emit: (event) => log.push(`${id} ${event}`) };
}

describe('room broadcast', () => {
  it('sends one multicast to every connected member but the sender, and queues for members in their grace', () => {
    const sent: { ids: string[]; event: string }[] = [];
    const room = new Room({
      id: 'r',
      sealedTitle: 't',
      router: {} as types.Router,
      worker: {} as types.Worker,
      multicast: (ids, event) => sent.push({ ids, event }),
    });
    const direct: string[] = [];
    const members = ['a', 'b', 'c', 'd'].map((id, i) => new Participant({ role: i === 0 ? 'host' : 'listener', announcement: id, joinedSeq: i, socket: socket(id, direct) }));
    for (const m of members) room.members.set(m.participantId, m);
    const [host, , , away] = members;
    away!.socket = null;

    room.broadcast('peer.left', { participantId: 'x', reason: 'left' }, host);
    expect(sent).toEqual([{ ids: ['b', 'c'], event: 'peer.left' }]);
    expect(direct).toEqual([]);

    away!.socket = socket('d2', direct);
    away!.flushOutbox();
    expect(direct).toEqual(['d2 peer.left']);
  });
});
