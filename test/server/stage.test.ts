import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SignalingError } from '../../protocol/errors.ts';
import type { Role } from '../../protocol/messages.ts';
import * as stage from '../../protocol/stage.ts';

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

/**
 * Every actor role against every target role, for every operation on another member, written out by hand from the
 * rules rather than derived from the code: F = FORBIDDEN, I = INVALID_STATE, OK = allowed. Columns are the target's
 * role in the order host, moderator, speaker, listener.
 */
const ROLES: Role[] = ['host', 'moderator', 'speaker', 'listener'];
const NOBODY = ['F', 'F', 'F', 'F'];
const MATRIX: Record<string, { op: (a: stage.StageMember, t: stage.StageMember) => void; after?: Partial<stage.StageMember>; rows: Record<Role, string[]> }> = {
  invite: {
    op: stage.invite,
    after: { role: 'listener', invitedBy: 'actor' },
    rows: { host: ['F', 'I', 'I', 'OK'], moderator: ['F', 'F', 'I', 'OK'], speaker: NOBODY, listener: NOBODY },
  },
  moveToAudience: {
    op: stage.moveToAudience,
    after: { role: 'listener', muted: false },
    rows: { host: ['F', 'OK', 'OK', 'I'], moderator: ['F', 'F', 'OK', 'I'], speaker: NOBODY, listener: NOBODY },
  },
  mute: {
    op: stage.mute,
    after: { muted: true },
    rows: { host: ['F', 'OK', 'OK', 'I'], moderator: ['F', 'F', 'OK', 'I'], speaker: NOBODY, listener: NOBODY },
  },
  kick: {
    op: stage.checkKick,
    rows: { host: ['F', 'OK', 'OK', 'OK'], moderator: ['F', 'F', 'OK', 'OK'], speaker: NOBODY, listener: NOBODY },
  },
  makeModerator: {
    op: (a, t) => stage.setModerator(a, t, true, 1, 20),
    after: { role: 'moderator', handRaisedSeq: null, invitedBy: null },
    rows: { host: ['F', 'OK', 'OK', 'OK'], moderator: NOBODY, speaker: NOBODY, listener: NOBODY },
  },
  removeModerator: {
    op: (a, t) => stage.setModerator(a, t, false, 1, 20),
    after: { role: 'speaker' },
    rows: { host: ['F', 'OK', 'I', 'I'], moderator: NOBODY, speaker: NOBODY, listener: NOBODY },
  },
};
const CODE: Record<string, string> = { F: 'FORBIDDEN', I: 'INVALID_STATE', OK: 'OK' };

describe('every actor against every target', () => {
  for (const [name, { op, after, rows }] of Object.entries(MATRIX)) {
    it(name, () => {
      for (const actorRole of ROLES) {
        ROLES.forEach((targetRole, column) => {
          const actor = m(actorRole, 'actor');
          const target = m(targetRole, 'target');
          if (targetRole === 'listener') target.handRaisedSeq = 7;
          const before = { ...target };
          const expected = CODE[rows[actorRole][column]!]!;
          expect(
            code(() => op(actor, target)),
            `${name}: ${actorRole} on ${targetRole}`,
          ).toBe(expected);
          if (expected === 'OK') expect(target, `${name}: ${actorRole} on ${targetRole}`).toMatchObject(after ?? before);
          else expect(target, `${name}: ${actorRole} on ${targetRole} changed nothing`).toEqual(before);
        });
      }
    });
  }

  it('nobody acts on themselves: those allowed the action are told it is pointless, the others that they may not', () => {
    for (const role of ROLES) {
      const self = m(role, 'same');
      for (const [name, { op }] of Object.entries(MATRIX)) {
        const allowed = name.endsWith('Moderator') ? role === 'host' : role === 'host' || role === 'moderator';
        const expected = allowed ? 'INVALID_STATE' : 'FORBIDDEN';
        expect(
          code(() => op(self, self)),
          `${name} by a ${role} on itself`,
        ).toBe(expected);
      }
    }
  });
});

describe('any sequence of stage operations', () => {
  const MAX = 2;
  const N = 5;
  const member = fc.integer({ min: 0, max: N - 1 });
  // Half the actions are the host's, so that promotions, demotions and a full stage actually happen.
  const actorOf = fc.oneof(fc.constant(0), member);
  const operation = fc.oneof(
    fc.record({ kind: fc.constant('raise' as const), who: member }),
    fc.record({ kind: fc.constant('lower' as const), who: member }),
    fc.record({ kind: fc.constant('invite' as const), who: actorOf, target: member }),
    fc.record({ kind: fc.constant('respond' as const), who: member, accept: fc.boolean() }),
    fc.record({ kind: fc.constant('leave' as const), who: member }),
    fc.record({ kind: fc.constant('move' as const), who: actorOf, target: member }),
    fc.record({ kind: fc.constant('mute' as const), who: actorOf, target: member }),
    fc.record({ kind: fc.constant('moderator' as const), who: actorOf, target: member, on: fc.boolean() }),
  );

  it('keeps one host, a bounded stage, and puts a listener on stage only by consent or by the host', () => {
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 100 }), (ops) => {
        const members = Array.from({ length: N }, (_, i) => m(i === 0 ? 'host' : 'listener', `p${i}`));
        const onStage = () => members.filter((x) => stage.isOnStage(x.role)).length;
        let seq = 0;
        for (const op of ops) {
          const actor = members[op.who]!;
          const target = 'target' in op ? members[op.target]! : actor;
          const wasListener = target.role === 'listener';
          const invited = target.invitedBy !== null;
          try {
            if (op.kind === 'raise') stage.raiseHand(actor, ++seq);
            else if (op.kind === 'lower') stage.lowerHand(actor);
            else if (op.kind === 'invite') stage.invite(actor, target);
            else if (op.kind === 'respond') stage.respondToInvite(actor, op.accept, onStage(), MAX);
            else if (op.kind === 'leave') stage.leaveStage(actor);
            else if (op.kind === 'move') stage.moveToAudience(actor, target);
            else if (op.kind === 'mute') stage.mute(actor, target);
            else stage.setModerator(actor, target, op.on, onStage(), MAX);
          } catch (error) {
            expect(error).toBeInstanceOf(SignalingError);
          }
          if (wasListener && target.role !== 'listener') {
            const consented = op.kind === 'respond' && op.accept && invited;
            const byHost = op.kind === 'moderator' && actor.role === 'host';
            expect(consented || byHost, `${op.kind} put a listener on stage`).toBe(true);
          }
          expect(members.filter((x) => x.role === 'host').map((x) => x.participantId)).toEqual(['p0']);
          expect(onStage()).toBeLessThanOrEqual(MAX);
          for (const x of members) {
            if (x.handRaisedSeq !== null || x.invitedBy !== null) expect(x.role).toBe('listener');
            if (x.muted) expect(stage.isOnStage(x.role)).toBe(true);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
