import { describe, expect, it } from 'vitest';
import { lockScreenPlan } from '../../client/src/session/lock-screen.ts';

const inRoom = { phase: { kind: 'room' as const }, title: 'Evening tea', micOn: false };

describe('lockScreenPlan', () => {
  it('a listener gets the title and leave, no microphone button and no wake lock', () => {
    expect(lockScreenPlan({ ...inRoom, myRole: 'listener' }, 'Untitled')).toEqual({ title: 'Evening tea', microphone: null, leave: true, wakeLock: false });
  });

  it('a member on stage gets the microphone button in its state, and the screen kept on', () => {
    for (const myRole of ['speaker', 'moderator', 'host'] as const) {
      expect(lockScreenPlan({ ...inRoom, myRole, micOn: true }, 'Untitled')).toEqual({ title: 'Evening tea', microphone: { active: true }, leave: true, wakeLock: true });
    }
    expect(lockScreenPlan({ ...inRoom, myRole: 'speaker' }, 'Untitled').microphone).toEqual({ active: false });
  });

  it('outside a room (join screen, lobby, ended) nothing is shown and no lock is held', () => {
    const none = { title: null, microphone: null, leave: false, wakeLock: false };
    expect(lockScreenPlan(null, 'Untitled')).toEqual(none);
    expect(lockScreenPlan({ ...inRoom, phase: { kind: 'join', title: 'Evening tea', otherTab: false }, myRole: null }, 'Untitled')).toEqual(none);
    expect(lockScreenPlan({ ...inRoom, phase: { kind: 'ended', reason: 'leftRoom' }, myRole: 'speaker' }, 'Untitled')).toEqual(none);
  });

  it("an untitled room shows the page's own word for it", () => {
    expect(lockScreenPlan({ ...inRoom, title: null, myRole: 'listener' }, '未命名房间').title).toBe('未命名房间');
  });
});
