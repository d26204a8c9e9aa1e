// How a session stops: a refusal shown in the room or ending it, the room left for good, and everything closed.
import { SignalingError } from '../../../../protocol/errors.ts';
import type { RequestOf, RequestType } from '../../../../protocol/messages.ts';
import { forgetLinkSecret } from '../link-store.ts';
import { forgetMember } from '../member-store.ts';
import type { Phase } from '../view.ts';
import type { SessionState } from './state.ts';

/**
 * Endings after which this tab has no use for the room secret. A room not found or lost (a relay restart) keeps it:
 * the room may come back, and a reload tries again.
 */
const FORGET_SECRET_WHEN = new Set<string>(['leftRoom', 'kicked', 'roomEnded', 'linkRevoked', 'lobbyDeclined']);

export function end(s: SessionState, reason: Extract<Phase, { kind: 'ended' }>['reason']): void {
  // Gone from the room for good: a reload must not try to come back (a relay restart keeps it for the rebuild).
  if (reason !== 'roomLost') forgetMember(s.keys.roomId);
  if (FORGET_SECRET_WHEN.has(reason)) forgetLinkSecret(s.keys.roomId);
  s.setPhase({ kind: 'ended', reason });
  teardown(s);
}

export function fail(s: SessionState, error: unknown): void {
  if (error instanceof SignalingError) {
    if (error.code === 'ROOM_NOT_FOUND') return end(s, 'roomNotFound');
    if (error.code === 'LINK_REVOKED') return end(s, 'linkRevoked');
    if (error.code === 'IDENTITY_BANNED') return end(s, 'kicked');
  }
  const message = error instanceof Error ? error.message : String(error);
  if (s.phase.kind === 'room') s.update({ notice: message });
  else s.setPhase({ kind: 'error', message });
  console.error(error);
}

/** A request whose refusal is shown (or ends the session). */
export function act<T extends RequestType>(s: SessionState, type: T, payload: RequestOf<T>): void {
  void s.req(type, payload).catch((error) => fail(s, error));
}

function teardown(s: SessionState): void {
  s.verifying.cancel();
  if (s.freshnessTimer) clearInterval(s.freshnessTimer);
  s.freshnessTimer = null;
  if (s.batchTimer) clearTimeout(s.batchTimer);
  s.batchTimer = null;
  s.media?.close();
  s.e2eeChannel?.close();
  s.meter?.close();
  s.media = null;
  s.e2eeChannel = null;
  s.meter = null;
  s.life?.clear();
  if (s.lifeTimer) clearTimeout(s.lifeTimer);
  if (s.announceTimer) clearTimeout(s.announceTimer);
  if (s.offersTimer) clearTimeout(s.offersTimer);
  s.connection.close();
  s.memberLock?.release();
  s.memberLock = null;
}
