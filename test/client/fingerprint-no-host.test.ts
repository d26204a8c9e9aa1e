// The fingerprint panel when the signed stage names no host: a colluding member keys a newcomer on a first stage of
// its own without one (so there is no host key to make a fingerprint from), and the page says so instead of nothing.
import { beforeAll, describe, expect, it } from 'vitest';
import { createAnnouncement, generateIdentity, generateRoomSecret, initCrypto, sealMetadata, type Identity, type RoomKeys } from '../../crypto/index.ts';
import { RoomCore } from '../../client/src/session/core/room-core.ts';
import { Membership } from '../../client/src/session/membership.ts';
import { refreshFingerprint } from '../../client/src/session/shell/fingerprint.ts';
import { becomeMember, SessionState } from '../../client/src/session/shell/state.ts';
import type { RosterRole } from '../../crypto/index.ts';

beforeAll(() => initCrypto());

const announce = (keys: RoomKeys, identity: Identity, name: string) => createAnnouncement({ roomId: keys.roomId, authKey: keys.authKey, identity, sealedProfile: sealMetadata(keys.metaKey, keys.roomId, 'profile', { name }) });

/** A newcomer's page keyed by a colluder's first commit, whose stage gives the colluder `colluderRole` and names `host` if given. */
function keyedBy(stage: (colluder: string) => [string, RosterRole][]): SessionState {
  const s = new SessionState('https://localhost:1', generateRoomSecret());
  const newcomer = generateIdentity();
  const member = becomeMember(s, new RoomCore(s.keys, newcomer, s.roster, s.rejected));
  const colluder = new Membership(s.keys, generateIdentity());
  const forNewcomer = colluder.verify('p-newcomer', announce(s.keys, newcomer, 'Newcomer'))!;
  member.core.agent.verify('p-colluder', announce(s.keys, colluder.identity, 'Colluder'));
  const issued = colluder.issueFresh([colluder.verify('p-colluder', announce(s.keys, colluder.identity, 'Colluder'))!, forNewcomer], { roles: new Map(stage(colluder.identity.memberKeyId)) });
  const present = new Set([colluder.identity.memberKeyId, newcomer.memberKeyId]);
  member.core.agent.accept(issued.blob, issued.packages.find((p) => p.memberKeyId === newcomer.memberKeyId)!.package, present);
  return s;
}

describe('a first stage with no host', () => {
  it('shows the warning in place of a fingerprint', () => {
    const s = keyedBy((colluder) => [[colluder, 'moderator']]);
    expect(s.agent!.current!.stage.some((m) => m.role === 'host')).toBe(false);
    refreshFingerprint(s);
    expect(s.published().fingerprintNoHost).toBe(true);
    expect(s.published().fingerprint).toBeNull();
  });

  it('does not warn when the stage names a host (its fingerprint is derived once the host is known)', () => {
    const s = keyedBy((colluder) => [[colluder, 'host']]);
    refreshFingerprint(s);
    expect(s.published().fingerprintNoHost).toBe(false);
  });
});
