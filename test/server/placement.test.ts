import { describe, expect, it } from 'vitest';
import { leastLoaded, mediaLost, receiveWorker } from '../../server/media/placement.ts';

describe('media placement decisions', () => {
  it('chooses the worker with the fewest participants, the first of equals', () => {
    expect(
      leastLoaded([
        { worker: 'a', load: 3 },
        { worker: 'b', load: 1 },
        { worker: 'c', load: 2 },
      ]),
    ).toBe('b');
    expect(
      leastLoaded([
        { worker: 'a', load: 2 },
        { worker: 'b', load: 1 },
        { worker: 'c', load: 1 },
      ]),
    ).toBe('b');
    expect(leastLoaded([{ worker: 'a', load: 0 }])).toBe('a');
    expect(() => leastLoaded([])).toThrow(RangeError);
  });

  it("keeps receivers on the room's worker until its router carries listenersPerRouter, then asks for the least loaded", () => {
    let asked = 0;
    const other = () => {
      asked++;
      return 'other';
    };
    expect(receiveWorker({ roomWorker: 'room', receiversOnRoomRouter: 1, listenersPerRouter: 2, leastLoaded: other })).toBe('room');
    expect(asked).toBe(0);
    expect(receiveWorker({ roomWorker: 'room', receiversOnRoomRouter: 2, listenersPerRouter: 2, leastLoaded: other })).toBe('other');
    expect(receiveWorker({ roomWorker: 'room', receiversOnRoomRouter: 2, listenersPerRouter: 2, leastLoaded: () => 'room' })).toBe('room');
  });

  it("loses all of a room's media with its own worker, only the fan-out receivers with a fan-out worker, nothing otherwise", () => {
    const members = [
      { id: 'host', loadWorker: 'w1' },
      { id: 'spread', loadWorker: 'w2' },
      { id: 'gone', loadWorker: null },
    ];
    const room = { worker: 'w1', fanoutOn: (w: string) => w === 'w2', members };
    expect(mediaLost('w1', room)).toEqual({ whole: true });
    expect(mediaLost('w2', room)).toEqual({ whole: false, members: [members[1]] });
    expect(mediaLost('w3', room)).toBeNull();
  });
});
