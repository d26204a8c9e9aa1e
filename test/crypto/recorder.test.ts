// Recorded now, decrypted later: a recorder holding every X25519 (and Ed25519) private key of a room, but never its link, opens no epoch.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createAnnouncement,
  DEFAULT_CIPHER_SUITE,
  deriveRoomKeys,
  deriveSenderBaseKey,
  generateIdentity,
  generateRoomSecret,
  initCrypto,
  makeKid,
  openCommit,
  pairwiseKey,
  sealMetadata,
  SframeReceiver,
  SframeSender,
  utf8,
  type Identity,
  type RoomKeys,
} from '../../crypto/index.ts';
import { Membership, type EpochState } from '../../client/src/session/membership.ts';

beforeAll(() => initCrypto());

interface Person {
  name: string;
  identity: Identity;
  m: Membership;
  announcement: (keys: RoomKeys) => string;
}

function person(keys: RoomKeys, name: string): Person {
  const identity = generateIdentity();
  const announcement = (k: RoomKeys) => createAnnouncement({ roomId: k.roomId, authKey: k.authKey, identity, sealedProfile: sealMetadata(k.metaKey, k.roomId, 'profile', { name }) });
  return { name, identity, m: new Membership(keys, identity), announcement };
}

/** What the relay stores of one commit: its header, its packages, and a frame the host sent under the epoch. */
interface Recorded {
  roomId: string;
  blob: string;
  packages: { memberKeyId: string; package: string }[];
  frame: Uint8Array;
  kid: bigint;
}

async function frameUnder(state: EpochState): Promise<{ frame: Uint8Array; kid: bigint }> {
  const kid = makeKid(state.epoch, state.myIndex!);
  const sender = new SframeSender({ kid, baseKey: deriveSenderBaseKey(state.secret, state.myIndex!, DEFAULT_CIPHER_SUITE) });
  return { frame: await sender.encrypt(utf8.encode('a recorded Opus frame')), kid };
}

async function opens(record: Recorded, epochSecret: Uint8Array): Promise<boolean> {
  const rx = new SframeReceiver();
  rx.addKey(record.kid, deriveSenderBaseKey(epochSecret, 0, DEFAULT_CIPHER_SUITE), DEFAULT_CIPHER_SUITE);
  try {
    await rx.decrypt(record.frame);
    return true;
  } catch {
    return false;
  }
}

/**
 * A room's life as the relay records it: a fresh start, a join (ratchet), a leave (fresh), a link rotation (fresh,
 * carrying S'), and a join under the rotated link. Everyone's identity leaks to the recorder; no link does.
 */
async function recordRoom() {
  const keys = deriveRoomKeys(generateRoomSecret());
  const [host, a, b, c, d] = ['Host', 'A', 'B', 'C', 'D'].map((n) => person(keys, n)) as [Person, Person, Person, Person, Person];
  const everyone = [host, a, b, c, d];
  const present = (...people: Person[]) => new Set(people.map((p) => p.identity.memberKeyId));
  const meet = (people: Person[], k: RoomKeys) => {
    for (const x of people) for (const y of people) x.m.verify(`p-${y.name}`, y.announcement(k));
  };
  const verified = (people: Person[], k: RoomKeys) => people.map((p) => host.m.verify(`p-${p.name}`, p.announcement(k))!);
  const records: Recorded[] = [];
  const truth: Uint8Array[] = [];
  const record = async (roomId: string, issued: { blob: string; packages: { memberKeyId: string; package: string }[] } & EpochState, receivers: Person[], here: Set<string>) => {
    for (const p of receivers) p.m.accept(issued.blob, issued.packages.find((x) => x.memberKeyId === p.identity.memberKeyId)?.package ?? null, here);
    records.push({ roomId, blob: issued.blob, packages: issued.packages, ...(await frameUnder(issued)) });
    truth.push(issued.secret);
  };
  meet([host, a, b], keys);
  await record(keys.roomId, host.m.issueFresh(verified([host, a, b], keys)), [a, b], present(host, a, b));
  meet([host, a, b, c], keys);
  await record(keys.roomId, host.m.issueRatchet(verified([c], keys)), [a, b, c], present(host, a, b, c));
  await record(keys.roomId, host.m.issueFresh(verified([host, a, c], keys)), [a, c], present(host, a, c));
  const rotated = generateRoomSecret();
  const rotation = host.m.issueFresh(verified([host, a, c], keys), { newRoomSecret: rotated });
  await record(keys.roomId, rotation, [a, c], present(host, a, c));
  const next = deriveRoomKeys(rotated);
  for (const p of [host, a, c, d]) p.m.keys = next;
  meet([host, a, c, d], next);
  await record(next.roomId, host.m.issueRatchet(verified([d], next)), [a, c, d], present(host, a, c, d));
  return { keys, next, everyone, host, records, truth };
}

describe('recorded now, decrypted later', () => {
  it('every X25519 and Ed25519 private key of the room opens every package, yet no epoch secret nor the rotated link follows', async () => {
    const { keys, next, everyone, host, records, truth } = await recordRoom();
    // The members, who hold the link, open every recorded frame: the recording and the check below are real.
    for (let i = 0; i < records.length; i++) expect(await opens(records[i]!, truth[i]!)).toBe(true);
    // The recorder runs the members' own code with every private key of the room, and, for the link's epoch key it
    // lacks, each 32-byte value it does hold (or zeros).
    const guesses = [new Uint8Array(32), ...everyone.flatMap((p) => [p.identity.boxSecretKey, p.identity.signSecretKey.subarray(0, 32), p.identity.boxPublicKey])];
    let packagesOpened = 0;
    for (const [i, r] of records.entries()) {
      for (const p of everyone) {
        const pkg = r.packages.find((x) => x.memberKeyId === p.identity.memberKeyId)?.package;
        if (!pkg) continue;
        for (const guess of guesses) {
          let opened: ReturnType<typeof openCommit>;
          try {
            opened = openCommit({
              blob: r.blob,
              package: pkg,
              roomId: r.roomId,
              linkKey: guess,
              signKeyOf: (id) => everyone.find((x) => x.identity.memberKeyId === id)?.identity.signPublicKey ?? null,
              pairwiseKeyWith: (id) => pairwiseKey({ roomId: r.roomId, mySecretKey: p.identity.boxSecretKey, theirPublicKey: host.identity.boxPublicKey, distributor: id, member: p.identity.memberKeyId }),
              me: p.identity,
              current: null,
            });
          } catch (error) {
            // The rotation commit: its package opens (the pairwise key is classical), but S' does not.
            expect((error as Error).message).toMatch(/rotated room secret does not authenticate/);
            continue;
          }
          packagesOpened++;
          expect(opened.epochSecret).not.toEqual(truth[i]);
          expect(await opens(r, opened.epochSecret)).toBe(false);
        }
      }
    }
    // Not vacuous: the recorder did open packages of every commit but the rotation's (three, two, two, two).
    expect(packagesOpened).toBe((2 + 1 + 2 + 1) * guesses.length);
    // With the link, the same recording opens: L is the one secret the recorder lacked.
    const first = records[0]!;
    const a = everyone[1]!;
    const withLink = openCommit({
      blob: first.blob,
      package: first.packages.find((x) => x.memberKeyId === a.identity.memberKeyId)!.package,
      roomId: first.roomId,
      linkKey: keys.linkKey,
      signKeyOf: () => host.identity.signPublicKey,
      pairwiseKeyWith: (id) => pairwiseKey({ roomId: first.roomId, mySecretKey: a.identity.boxSecretKey, theirPublicKey: host.identity.boxPublicKey, distributor: id, member: a.identity.memberKeyId }),
      me: a.identity,
      current: null,
    });
    expect(await opens(first, withLink.epochSecret)).toBe(true);
    expect(next.linkKey).not.toEqual(keys.linkKey);
  });
});
