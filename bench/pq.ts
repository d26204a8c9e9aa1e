// Post-quantum costs (issue 28): X-Wing per operation, what a join and a stage member pay, a hand-over and a rekey at 10,000.
import { createCommit, decapsulate, encapsulate, generateCommitSecret, generateIdentity, generateKemKeyPair, initCrypto, NO_PREVIOUS_COMMIT, pairwiseKey, randomBytes, type Identity } from '../crypto/index.ts';
import { sodium } from '../crypto/sodium.ts';
import { writeJson, type Table } from './report.ts';

const b64 = (bytes: number) => Math.ceil((bytes * 4) / 3);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Microseconds per call, median of `rounds` timed batches. */
function perCall(calls: number, fn: () => void, rounds = 5): number {
  for (let i = 0; i < Math.min(50, calls); i++) fn();
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1000 / calls);
  }
  return median(times);
}

export async function runPqBench(opts: { quick: boolean }): Promise<Table[]> {
  await initCrypto();
  const calls = opts.quick ? 100 : 500;
  const kem = generateKemKeyPair();
  const sent = encapsulate(kem.publicKey)!;
  const me = generateIdentity();
  const other = generateIdentity();
  const transcript = randomBytes(1200);
  const signature = sodium.crypto_sign_detached(transcript, me.signSecretKey);
  const ids = { roomId: 'B'.repeat(22), distributor: me.memberKeyId, member: other.memberKeyId };
  const us = {
    keypair: perCall(calls, () => generateKemKeyPair()),
    encapsulate: perCall(calls, () => encapsulate(kem.publicKey)),
    decapsulate: perCall(calls, () => decapsulate(sent.ciphertext, kem.secretKey)),
    sign: perCall(calls, () => sodium.crypto_sign_detached(transcript, me.signSecretKey)),
    verify: perCall(calls, () => sodium.crypto_sign_verify_detached(signature, transcript, me.signPublicKey)),
    classicalPairwise: perCall(calls, () => pairwiseKey({ ...ids, mySecretKey: me.boxSecretKey, theirPublicKey: other.boxPublicKey })),
    hybridPairwise: perCall(calls, () => pairwiseKey({ ...ids, mySecretKey: me.boxSecretKey, theirPublicKey: other.boxPublicKey, kemSecret: sent.sharedSecret })),
  };
  // A signed KEM offer on the wire (docs/protocol.md §5): ciphertext and Ed25519 signature, base64url, in a small JSON event.
  const offerChars = b64(1120 + 64) + 64;

  const perJoin = [1, 5, 20, 50].map((stage) => ({
    stage,
    encapsulateMs: (stage * (us.encapsulate + us.sign)) / 1000,
    uploadKiB: (stage * offerChars) / 1024,
  }));

  // A member coming onto the stage of a room of n: one offer from each member, decapsulated and verified in slices.
  const stageJoins = [1000, 5000, 10000].map((n) => ({
    n,
    cpuMs: (n * (us.decapsulate + us.verify)) / 1000,
    receivedMiB: (n * offerChars) / 1024 / 1024,
  }));

  // Hand-over and fresh rekey: the successor already holds every member's KEM secret, so what it computes per member is
  // the same X25519 and HKDF as before (the hybrid key feeds 64 bytes to HKDF instead of 32), then cached keys.
  const sizes = opts.quick ? [1000] : [1000, 5000, 10000];
  const rekey: { n: number; handOverBuildMs: number; classicalHandOverBuildMs: number; rekeyBuildMs: number; distributorEncapsulatesMs: number }[] = [];
  const distributor = generateIdentity();
  for (const n of sizes) {
    const members: Identity[] = Array.from({ length: n }, () => generateIdentity());
    const kemSecrets = members.map(() => randomBytes(32));
    const build = (keyOf: (i: number) => Uint8Array | null) => {
      const index = new Map(members.map((m, i) => [m.memberKeyId, i]));
      const t0 = performance.now();
      createCommit({
        distributor,
        roomId: ids.roomId,
        linkKey: randomBytes(32),
        epoch: 2,
        kind: 'fresh',
        previous: NO_PREVIOUS_COMMIT,
        locked: false,
        members: [distributor.memberKeyId, ...members.map((m) => m.memberKeyId)],
        stage: [{ memberKeyId: distributor.memberKeyId, senderIndex: 0, role: 'host' }],
        commitSecret: generateCommitSecret(),
        packageFor: members,
        pairwiseKeyOf: (r) => keyOf(index.get(r.memberKeyId)!),
      });
      return performance.now() - t0;
    };
    const hybridKey = (i: number) =>
      pairwiseKey({ roomId: ids.roomId, mySecretKey: distributor.boxSecretKey, theirPublicKey: members[i]!.boxPublicKey, distributor: distributor.memberKeyId, member: members[i]!.memberKeyId, kemSecret: kemSecrets[i]! });
    const classicalKey = (i: number) => pairwiseKey({ roomId: ids.roomId, mySecretKey: distributor.boxSecretKey, theirPublicKey: members[i]!.boxPublicKey, distributor: distributor.memberKeyId, member: members[i]!.memberKeyId });
    const cached = members.map((_, i) => hybridKey(i)!);
    rekey.push({
      n,
      handOverBuildMs: build(hybridKey),
      classicalHandOverBuildMs: build(classicalKey),
      rekeyBuildMs: build((i) => cached[i]!),
      distributorEncapsulatesMs: (n * us.encapsulate) / 1000,
    });
    console.log(`  ${n} members: hand-over build ${rekey.at(-1)!.handOverBuildMs.toFixed(0)} ms`);
  }

  // room.members at 10,000: announcements today (about 180 bytes plus a sealed profile of 64 to 128 bytes) against the
  // same with a KEM public key in each.
  const announcementChars = b64(1 + 32 + 32 + 16 + 2 + 150 + 64 + 32);
  const withKemChars = b64(1 + 32 + 32 + 16 + 2 + 150 + 1216 + 64 + 32);
  const snapshotOverhead = 120;
  const roomMembers = {
    todayMiB: (10000 * (announcementChars + snapshotOverhead)) / 1024 / 1024,
    stageOnlyKemMiB: (10000 * (announcementChars + snapshotOverhead) + 50 * (withKemChars - announcementChars)) / 1024 / 1024,
    everyoneKemMiB: (10000 * (withKemChars + snapshotOverhead)) / 1024 / 1024,
  };
  writeJson('pq', { quick: opts.quick, us, perJoin, stageJoins, rekey, roomMembers });
  return [
    {
      title: 'X-Wing and friends, per call (µs, median of 5 batches)',
      columns: ['KEM keypair', 'encapsulate', 'decapsulate', 'Ed25519 sign', 'Ed25519 verify', 'pairwise key (X25519)', 'pairwise key (hybrid)'],
      rows: [[us.keypair, us.encapsulate, us.decapsulate, us.sign, us.verify, us.classicalPairwise, us.hybridPairwise]],
    },
    {
      title: 'A join: the newcomer encapsulates to each stage member and signs each offer',
      columns: ['stage members', 'newcomer CPU ms', 'upload KiB'],
      rows: perJoin.map((r) => [r.stage, r.encapsulateMs, r.uploadKiB]),
      notes: [`an offer is ${offerChars} characters; the newcomer's announcement is unchanged (listeners publish no KEM key)`],
    },
    {
      title: 'A member comes onto the stage of a room of n: offers it decapsulates and verifies (in slices, before any hand-over)',
      columns: ['members', 'stage member CPU ms', 'received MiB'],
      rows: stageJoins.map((r) => [r.n, r.cpuMs, r.receivedMiB]),
    },
    {
      title: 'Fresh commit at n members (ms): a hand-over (pairwise keys derived now) and a rekey (keys cached)',
      columns: ['members', 'hand-over, hybrid', 'hand-over, X25519 only', 'rekey, cached', 'if the distributor encapsulated instead'],
      rows: rekey.map((r) => [r.n, r.handOverBuildMs, r.classicalHandOverBuildMs, r.rekeyBuildMs, r.distributorEncapsulatesMs]),
    },
    {
      title: 'room.members at 10,000 members (MiB; the outbox bound is 4 MiB)',
      columns: ['today', 'KEM key on stage members only (50)', 'KEM key in every announcement'],
      rows: [[roomMembers.todayMiB, roomMembers.stageOnlyKemMiB, roomMembers.everyoneKemMiB]],
      notes: ['estimated from announcement sizes with a 150-byte sealed profile and about 120 characters of snapshot fields per member'],
    },
  ];
}
