// The core's effects run in their order: every relay event, batch window and decision of this member goes through here.
import { deriveRoomKeys, generateRoomSecret, sealMetadata, type DecisionAction } from '../../../../crypto/index.ts';
import type { Effect } from '../core/effects.ts';
import type { Input } from '../core/inputs.ts';
import type { RestoredRole } from '../rebuild.ts';
import { reannounce } from './announce.ts';
import { act, fail } from './ending.ts';
import { useEpoch } from './epoch.ts';
import { announceRecording } from './life.ts';
import { pauseMic } from './media.ts';
import { render } from './projection.ts';
import { switchSecret } from './rotation.ts';
import { isMember, type MemberSession, type SessionState } from './state.ts';

/** A validated relay event (or the batch window) through the core; nothing before this member has an identity. */
export function step(s: SessionState, input: Input): void {
  if (isMember(s)) run(s, s.core.step(input));
}

/** Signs this member's decision in the core (a distributor applies it at once) and runs what that takes. */
export function decide(s: MemberSession, action: DecisionAction, target: string | null, embedded?: string): string {
  const { blob, effects } = s.core.decide(action, target, embedded, Date.now());
  run(s, effects);
  return blob;
}

/**
 * Runs the core's effects in their order. Each request leaves (is emitted) when its effect comes; the promise
 * settles when the commits among them were taken by the relay (a rotation waits for that before moving).
 */
export function run(s: MemberSession, effects: readonly Effect[]): Promise<void> {
  const commits: Promise<void>[] = [];
  for (const effect of effects) {
    switch (effect.kind) {
      case 'request':
        if (effect.errors === 'fail') act(s, effect.type, effect.payload as never);
        else void s.req(effect.type, effect.payload as never).catch(() => undefined);
        break;
      case 'epoch':
        useEpoch(s, effect.state, effect.senders);
        break;
      case 'commit':
        commits.push(sendCommit(s, effect));
        break;
      case 'batch-timer':
        s.batchTimer = setTimeout(() => {
          s.batchTimer = null;
          step(s, { kind: 'batch-timer', now: Date.now() });
        }, effect.ms);
        break;
      case 'notice':
        s.update({ notice: effect.text });
        break;
      case 'mic-pause':
        pauseMic(s);
        break;
      case 'rotate':
        void rotate(s);
        break;
      case 'announce-recording':
        announceRecording(s);
        break;
      case 'room-secret':
        s.pendingSecret = effect.secret;
        break;
      case 'restore-seat':
        restoreSeat(s, effect.participantId, effect.memberKeyId, effect.seat);
        break;
      case 'invited':
        s.update({ invitedBy: effect.by });
        break;
      case 'reannounce-kem':
        reannounce(s, true);
        break;
      case 'render':
        render(s);
        break;
    }
  }
  return Promise.all(commits).then(() => undefined);
}

/** The header to everyone, each package to its member alone, in messages of at most LIMITS.packagesPerMessage. */
async function sendCommit(s: MemberSession, commit: Extract<Effect, { kind: 'commit' }>): Promise<void> {
  const [first, ...rest] = commit.packages;
  try {
    // A fresh epoch keys every member it names: the header goes with each package and to nobody else.
    await s.req('key.commit', { commit: commit.blob, epoch: commit.epoch, packages: first!, ...(commit.fresh ? { withPackages: true as const } : {}) });
    for (const packages of rest) await s.req('key.packages', { epoch: commit.epoch, packages });
  } catch (error) {
    fail(s, error);
  }
}

/** Re-creator: a former speaker is invited (its page takes the invitation as its seat); a moderator named, then muted. */
function restoreSeat(s: MemberSession, participantId: string, memberKeyId: string, seat: RestoredRole): void {
  void (async () => {
    if (seat === 'speaker') return void (await s.req('stage.invite', { participantId, decision: decide(s, 'invite', memberKeyId) }));
    await s.req('role.setModerator', { participantId, moderator: true, decision: decide(s, 'set-moderator', memberKeyId) });
    await s.req('stage.mute', { participantId, decision: decide(s, 'mute', memberKeyId) });
  })().catch((error) => fail(s, error));
}

/** A fresh epoch carrying a new room secret, sealed to everyone this distributor still admits, then the move. */
export async function rotate(s: MemberSession): Promise<void> {
  try {
    const next = generateRoomSecret();
    const nextKeys = deriveRoomKeys(next);
    await run(s, s.core.rotateTo(next));
    const sealedTitle = sealMetadata(nextKeys.metaKey, nextKeys.roomId, 'room-title', s.title ?? '');
    await s.req('room.rotate', { newRoomId: nextKeys.roomId, sealedTitle });
    await switchSecret(s, next);
  } catch (error) {
    fail(s, error);
  }
}
