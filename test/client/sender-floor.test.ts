import { describe, expect, it } from 'vitest';
import { SenderFloor } from '../../client/src/session/sender-floor.ts';

describe('SenderFloor: a page sends only under epochs no other page of its member may have sent under', () => {
  it('a new member sends under an epoch once the store holds a watermark at least as high, not before', () => {
    const floor = new SenderFloor();
    expect(floor.senderIndex(1, 0)).toBeNull();
    floor.recorded(1, 'stored');
    expect(floor.senderIndex(1, 0)).toBe(0);
    // The next epoch is not covered until it is written too.
    expect(floor.senderIndex(2, 0)).toBeNull();
    floor.recorded(2, 'stored');
    expect(floor.senderIndex(2, 0)).toBe(0);
    // Off the stage there is nothing to install.
    expect(floor.senderIndex(2, null)).toBeNull();
  });

  it('a page that came back never sends at or below the watermark it found, even with that epoch stored again', () => {
    const floor = new SenderFloor(7);
    floor.recorded(7, 'stored');
    expect(floor.allows(7)).toBe(false);
    expect(floor.senderIndex(7, 2)).toBeNull();
    floor.recorded(8, 'stored');
    expect(floor.senderIndex(8, 2)).toBe(2);
  });

  it('a refused write sends nothing; one whose entry was removed instead sends, since no page can come back as this member', () => {
    const refused = new SenderFloor();
    refused.recorded(3, 'failed');
    expect(refused.allows(3)).toBe(false);
    const forgotten = new SenderFloor();
    forgotten.recorded(3, 'forgotten');
    expect(forgotten.allows(3)).toBe(true);
    // A later write that succeeds vouches only for what it wrote.
    forgotten.recorded(3, 'stored');
    expect(forgotten.allows(4)).toBe(false);
    // A page that came back keeps its floor whatever the store does afterwards.
    const back = new SenderFloor(5);
    back.recorded(5, 'forgotten');
    expect(back.allows(5)).toBe(false);
    expect(back.allows(6)).toBe(true);
  });
});
