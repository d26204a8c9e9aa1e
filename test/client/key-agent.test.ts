import { beforeAll, describe, expect, it } from 'vitest';
import { createAnnouncement, deriveRoomKeys, generateIdentity, generateRoomSecret, initCrypto, sealMetadata, type Identity, type RoomKeys } from '../../crypto/index.ts';
import { KeyAgent } from '../../client/src/session/key-agent.ts';

beforeAll(() => initCrypto());

function member(keys: RoomKeys, name: string): { agent: KeyAgent; announcement: string; identity: Identity } {
  const identity = generateIdentity();
  const sealedProfile = sealMetadata(keys.metaKey, keys.roomId, 'profile', { name });
  return { agent: new KeyAgent(keys, identity), identity, announcement: createAnnouncement({ roomId: keys.roomId, authKey: keys.authKey, identity, sealedProfile }) };
}

describe('KeyAgent: the host distributes, members follow', () => {
  it('verifies members of this link only, with their names', () => {
    const keys = deriveRoomKeys(generateRoomSecret());
    const host = member(keys, 'Host');
    const alice = member(keys, 'Alice');
    expect(host.agent.verify('p1', alice.announcement)).toMatchObject({ participantId: 'p1', name: 'Alice', memberKeyId: alice.identity.memberKeyId });
    const stranger = member({ ...deriveRoomKeys(generateRoomSecret()), roomId: keys.roomId }, 'Eve');
    expect(host.agent.verify('p2', stranger.announcement)).toBeNull();
  });

  it('start, join (ratchet), leave (fresh): everyone present agrees, the leaver is left behind', () => {
    const keys = deriveRoomKeys(generateRoomSecret());
    const host = member(keys, 'Host');
    const alice = member(keys, 'Alice');
    const bob = member(keys, 'Bob');
    const v = (m: ReturnType<typeof member>, id: string) => host.agent.verify(id, m.announcement)!;

    const e1 = host.agent.issueFresh([v(host, 'h')]);
    expect(e1).toMatchObject({ epoch: 1, kind: 'fresh', myIndex: 0 });

    const e2 = host.agent.issueRatchet([v(alice, 'a')]);
    expect(alice.agent.accept(e2.blob, host.identity.signPublicKey)).toMatchObject({ epoch: 2, kind: 'ratchet', myIndex: 1 });
    expect(alice.agent.current!.secret).toEqual(e2.secret);

    const e3 = host.agent.issueRatchet([v(bob, 'b')]);
    expect(alice.agent.accept(e3.blob, host.identity.signPublicKey).secret).toEqual(e3.secret);
    expect(bob.agent.accept(e3.blob, host.identity.signPublicKey)).toMatchObject({ epoch: 3, myIndex: 2 });

    // Bob leaves: a fresh epoch for host and Alice only.
    const e4 = host.agent.issueFresh([v(host, 'h'), v(alice, 'a')]);
    expect(alice.agent.accept(e4.blob, host.identity.signPublicKey).secret).toEqual(e4.secret);
    expect(() => bob.agent.accept(e4.blob, host.identity.signPublicKey)).toThrow(/no key for me/);
    expect(bob.agent.current!.epoch).toBe(3);

    // A commit signed by anyone but the host is refused.
    expect(() => alice.agent.accept(bob.agent.issueRatchet([]).blob, host.identity.signPublicKey)).toThrow(/not signed/);
  });

  it('a member taking over after missing commits leaps past the epochs the others hold', () => {
    const keys = deriveRoomKeys(generateRoomSecret());
    const host = member(keys, 'Host');
    const mod = member(keys, 'Moderator');
    const alice = member(keys, 'Alice');
    const v = (m: ReturnType<typeof member>, id: string) => host.agent.verify(id, m.announcement)!;
    const e1 = host.agent.issueFresh([v(host, 'h'), v(mod, 'm'), v(alice, 'a')]);
    for (const m of [mod, alice]) m.agent.accept(e1.blob, host.identity.signPublicKey);
    // The moderator's connection was down for the next two commits; Alice got them.
    for (let i = 0; i < 2; i++) alice.agent.accept(host.agent.issueFresh([v(host, 'h'), v(mod, 'm'), v(alice, 'a')]).blob, host.identity.signPublicKey);
    expect([mod.agent.current!.epoch, alice.agent.current!.epoch]).toEqual([1, 3]);

    // Without the leap its next commit would be epoch 2, which Alice refuses as old.
    const behind = member(keys, 'Moderator');
    behind.agent.current = mod.agent.current;
    expect(() => alice.agent.accept(behind.agent.issueFresh([v(mod, 'm'), v(alice, 'a')]).blob, behind.identity.signPublicKey)).toThrow(/not newer/);

    mod.agent.raiseNextEpoch(mod.agent.current!.epoch + 1_000);
    const rebuilt = mod.agent.issueFresh([v(mod, 'm'), v(alice, 'a')]);
    expect(rebuilt.epoch).toBe(1_001);
    expect(alice.agent.accept(rebuilt.blob, mod.identity.signPublicKey).secret).toEqual(rebuilt.secret);
    expect(mod.agent.issueFresh([v(mod, 'm'), v(alice, 'a')]).epoch).toBe(1_002);
  });
});
