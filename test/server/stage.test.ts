import { describe, expect, it } from 'vitest';
import { SignalingError } from '../../protocol/errors.ts';
import type { Role } from '../../protocol/messages.ts';
import * as stage from '../../server/rooms/stage.ts';

const m = (role: Role, id: string = role): stage.StageMember => ({ participantId: id, role, handRaisedSeq: null, muted: false, invitedBy: null });
const code = (fn: () => void): string => {
  try {
    fn();
  } catch (error) {
    if (error instanceof SignalingError) return error.code;
    throw error;
  }
  return 'OK';
};

describe('stage rules', () => {
  it('listeners raise and lower hands; nobody else does', () => {
    const l = m('listener');
    stage.raiseHand(l, 5);
    stage.raiseHand(l, 9);
    expect(l.handRaisedSeq).toBe(5);
    stage.lowerHand(l);
    expect(l.handRaisedSeq).toBeNull();
    for (const r of ['host', 'moderator', 'speaker'] as Role[]) expect(code(() => stage.raiseHand(m(r), 1))).toBe('INVALID_STATE');
  });

  it('invitation needs a moderator, a listener, and the listener consent', () => {
    const host = m('host');
    const l = m('listener', 'l');
    l.handRaisedSeq = 3;
    expect(code(() => stage.invite(m('speaker'), l))).toBe('FORBIDDEN');
    expect(code(() => stage.invite(m('listener', 'x'), l))).toBe('FORBIDDEN');
    expect(code(() => stage.invite(host, m('speaker', 's')))).toBe('INVALID_STATE');
    expect(code(() => stage.respondToInvite(l, true, 1, 20))).toBe('INVALID_STATE');
    stage.invite(host, l);
    expect(l.role).toBe('listener');
    stage.respondToInvite(l, false, 1, 20);
    expect(l.role).toBe('listener');
    expect(code(() => stage.respondToInvite(l, true, 1, 20))).toBe('INVALID_STATE');
    stage.invite(m('moderator', 'mod'), l);
    stage.respondToInvite(l, true, 1, 20);
    expect(l).toMatchObject({ role: 'speaker', handRaisedSeq: null, invitedBy: null });
  });

  it('a full stage refuses a new speaker or moderator from the audience', () => {
    const l = m('listener', 'l');
    stage.invite(m('host'), l);
    expect(code(() => stage.respondToInvite(l, true, 20, 20))).toBe('STAGE_FULL');
    expect(code(() => stage.setModerator(m('host'), m('listener', 'y'), true, 20, 20))).toBe('STAGE_FULL');
    expect(code(() => stage.setModerator(m('host'), m('speaker', 'z'), true, 20, 20))).toBe('OK');
  });

  it('moving to the audience, muting and kicking follow the hierarchy', () => {
    const host = m('host');
    const mod = m('moderator', 'mod');
    const mod2 = m('moderator', 'mod2');
    const sp = m('speaker', 'sp');
    for (const op of [stage.moveToAudience, stage.mute, stage.checkKick]) {
      expect(code(() => op(sp, m('speaker', 'other')))).toBe('FORBIDDEN');
      expect(code(() => op(mod, host))).toBe('FORBIDDEN');
      expect(code(() => op(mod, mod2))).toBe('FORBIDDEN');
      expect(code(() => op(mod, mod))).toBe('INVALID_STATE');
    }
    stage.mute(mod, sp);
    expect(sp.muted).toBe(true);
    expect(code(() => stage.mute(mod, m('listener', 'l')))).toBe('INVALID_STATE');
    stage.moveToAudience(mod, sp);
    expect(sp).toMatchObject({ role: 'listener', muted: false });
    expect(code(() => stage.moveToAudience(mod, sp))).toBe('INVALID_STATE');
    expect(code(() => stage.checkKick(host, mod))).toBe('OK');
    expect(code(() => stage.checkKick(mod, m('listener', 'l')))).toBe('OK');
  });

  it('only the host names and removes moderators, and ends or rotates', () => {
    const host = m('host');
    const mod = m('moderator', 'mod');
    const sp = m('speaker', 'sp');
    expect(code(() => stage.setModerator(mod, sp, true, 2, 20))).toBe('FORBIDDEN');
    stage.setModerator(host, sp, true, 2, 20);
    expect(sp.role).toBe('moderator');
    stage.setModerator(host, sp, false, 2, 20);
    expect(sp.role).toBe('speaker');
    expect(code(() => stage.setModerator(host, sp, false, 2, 20))).toBe('INVALID_STATE');
    expect(code(() => stage.checkHostOnly(mod, 'end the room'))).toBe('FORBIDDEN');
    expect(code(() => stage.checkHostOnly(host, 'end the room'))).toBe('OK');
  });

  it('leaving the stage: speakers and moderators may, the host may not', () => {
    const sp = m('speaker');
    stage.leaveStage(sp);
    expect(sp.role).toBe('listener');
    expect(code(() => stage.leaveStage(sp))).toBe('INVALID_STATE');
    expect(code(() => stage.leaveStage(m('host')))).toBe('FORBIDDEN');
    expect(stage.canProduce('listener')).toBe(false);
    for (const r of ['host', 'moderator', 'speaker'] as Role[]) expect(stage.canProduce(r)).toBe(true);
  });
});
