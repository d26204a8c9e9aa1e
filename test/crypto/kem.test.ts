// X-Wing as libsodium runs it: the draft's published vector, the combiner recomputed apart, and the hybrid pairwise key it makes.
import { readFileSync } from 'node:fs';
import { sha3_256, shake256 } from '@noble/hashes/sha3.js';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  concat,
  createCommit,
  decapsulate,
  deriveRoomKeys,
  encapsulate,
  fromHex,
  generateCommitSecret,
  generateIdentity,
  generateKemKeyPair,
  generateRoomSecret,
  initCrypto,
  KEM_CIPHERTEXT_BYTES,
  KEM_PUBLIC_KEY_BYTES,
  NO_PREVIOUS_COMMIT,
  openCommit,
  pairwiseKey,
  randomBytes,
  toHex,
  type Identity,
} from '../../crypto/index.ts';
import { sodium } from '../../crypto/sodium.ts';

beforeAll(() => initCrypto());

const vectors = JSON.parse(readFileSync(new URL('../vectors/xwing-draft08.json', import.meta.url), 'utf8')) as { vectors: { seed: string; pk: string; eseed: string; ct: string; ss: string }[] };

/** X-Wing's label, the ASCII art \.//^\ of the draft. */
const XWING_LABEL = Uint8Array.of(0x5c, 0x2e, 0x2f, 0x2f, 0x5e, 0x5c);
const BASE = Uint8Array.of(9, ...new Uint8Array(31));

/** X-Wing put together from its parts as draft-connolly-cfrg-xwing-kem-08 writes it: libsodium's ML-KEM-768 and X25519, noble's SHA-3. */
function xwingApart(seed: Uint8Array, eseed: Uint8Array) {
  const expanded = shake256(seed, { dkLen: 96 });
  const mlkem = sodium.crypto_kem_mlkem768_seed_keypair(expanded.subarray(0, 64));
  const skX = expanded.subarray(64, 96);
  const pkX = sodium.crypto_scalarmult(skX, BASE);
  const { ciphertext: ctM, sharedSecret: ssM } = sodium.crypto_kem_mlkem768_enc_deterministic(mlkem.publicKey, eseed.subarray(0, 32));
  const ekX = eseed.subarray(32, 64);
  const ctX = sodium.crypto_scalarmult(ekX, BASE);
  const ssX = sodium.crypto_scalarmult(ekX, pkX);
  return { pk: concat(mlkem.publicKey, pkX), ct: concat(ctM, ctX), ss: sha3_256(concat(ssM, ssX, ctX, pkX, XWING_LABEL)), skX, ssX, ctX, pkX };
}

describe('X-Wing', () => {
  it("libsodium's X-Wing gives the draft's published known answers", () => {
    for (const v of vectors.vectors) {
      const { publicKey } = sodium.crypto_kem_xwing_seed_keypair(fromHex(v.seed));
      expect(toHex(publicKey)).toBe(v.pk);
      const { ciphertext, sharedSecret } = sodium.crypto_kem_xwing_enc_deterministic(publicKey, fromHex(v.eseed));
      expect(toHex(ciphertext)).toBe(v.ct);
      expect(toHex(sharedSecret)).toBe(v.ss);
      expect(toHex(decapsulate(ciphertext, fromHex(v.seed))!)).toBe(v.ss);
      // The combiner recomputed from ML-KEM-768, X25519 and SHA-3 separately gives the same published answers.
      const apart = xwingApart(fromHex(v.seed), fromHex(v.eseed));
      expect([toHex(apart.pk), toHex(apart.ct), toHex(apart.ss)]).toEqual([v.pk, v.ct, v.ss]);
    }
  });

  it('for random seeds, libsodium agrees with the combiner computed apart', () => {
    for (let i = 0; i < 8; i++) {
      const seed = randomBytes(32);
      const eseed = randomBytes(64);
      const { publicKey } = sodium.crypto_kem_xwing_seed_keypair(seed);
      const { ciphertext, sharedSecret } = sodium.crypto_kem_xwing_enc_deterministic(publicKey, eseed);
      const apart = xwingApart(seed, eseed);
      expect([toHex(publicKey), toHex(ciphertext), toHex(sharedSecret)]).toEqual([toHex(apart.pk), toHex(apart.ct), toHex(apart.ss)]);
    }
  });

  it('refuses, without throwing, public keys and ciphertexts of the wrong length', () => {
    const pair = generateKemKeyPair();
    expect(pair.publicKey.length).toBe(KEM_PUBLIC_KEY_BYTES);
    expect(encapsulate(pair.publicKey.subarray(0, KEM_PUBLIC_KEY_BYTES - 1))).toBeNull();
    expect(encapsulate(new Uint8Array(0))).toBeNull();
    expect(encapsulate(concat(pair.publicKey, Uint8Array.of(0)))).toBeNull();
    const sent = encapsulate(pair.publicKey)!;
    expect(sent.ciphertext.length).toBe(KEM_CIPHERTEXT_BYTES);
    expect(decapsulate(sent.ciphertext, pair.secretKey)).toEqual(sent.sharedSecret);
    expect(decapsulate(sent.ciphertext.subarray(1), pair.secretKey)).toBeNull();
    expect(decapsulate(sent.ciphertext, pair.secretKey.subarray(1))).toBeNull();
  });
});

describe('hybrid pairwise keys', () => {
  const room = deriveRoomKeys(generateRoomSecret());
  let host: Identity, member: Identity;
  beforeAll(() => {
    [host, member] = [generateIdentity(), generateIdentity()];
  });

  /** The host's fresh commit to one member under the hybrid key; the member encapsulated to the host's KEM key. */
  function keyed() {
    const seed = randomBytes(32);
    const hostKem = sodium.crypto_kem_xwing_seed_keypair(seed);
    const eseed = randomBytes(64);
    const sent = sodium.crypto_kem_xwing_enc_deterministic(hostKem.publicKey, eseed);
    const byHost = decapsulate(sent.ciphertext, seed)!;
    const base = { roomId: room.roomId, distributor: host.memberKeyId, member: member.memberKeyId };
    const hostKey = pairwiseKey({ ...base, mySecretKey: host.boxSecretKey, theirPublicKey: member.boxPublicKey, kemSecret: byHost })!;
    const created = createCommit({
      distributor: host,
      roomId: room.roomId,
      linkKey: room.linkKey,
      epoch: 1,
      kind: 'fresh',
      previous: NO_PREVIOUS_COMMIT,
      locked: false,
      members: [host.memberKeyId, member.memberKeyId],
      stage: [{ memberKeyId: host.memberKeyId, senderIndex: 0, role: 'host' }],
      commitSecret: generateCommitSecret(),
      packageFor: [{ memberKeyId: member.memberKeyId, boxPublicKey: member.boxPublicKey }],
      pairwiseKeyOf: () => hostKey,
    });
    const open = (key: Uint8Array | null) =>
      openCommit({ blob: created.blob, package: created.packages[0]!.package, roomId: room.roomId, linkKey: room.linkKey, signKeyOf: () => host.signPublicKey, pairwiseKeyWith: () => key, me: member, current: null });
    return { created, open, base, sent, seed, eseed, byMember: sent.sharedSecret };
  }

  it('the member that encapsulated opens its package; the same X25519 keys without the ML-KEM half do not', () => {
    const { created, open, base, byMember } = keyed();
    const hybrid = pairwiseKey({ ...base, mySecretKey: member.boxSecretKey, theirPublicKey: host.boxPublicKey, kemSecret: byMember });
    expect(open(hybrid).epochSecret).toEqual(created.epochSecret);
    // Classical only: every X25519 private key of both, no KEM secret.
    expect(() => open(pairwiseKey({ ...base, mySecretKey: member.boxSecretKey, theirPublicKey: host.boxPublicKey }))).toThrow(/does not open/);
    expect(() => open(pairwiseKey({ ...base, mySecretKey: host.boxSecretKey, theirPublicKey: member.boxPublicKey }))).toThrow(/does not open/);
    // A KEM secret of the wrong length makes no key at all.
    expect(pairwiseKey({ ...base, mySecretKey: member.boxSecretKey, theirPublicKey: host.boxPublicKey, kemSecret: byMember.subarray(1) })).toBeNull();
  });

  it('a recorder with the X25519 half of X-Wing too, but not the ML-KEM key, does not open the package', () => {
    const { open, base, sent, seed, eseed } = keyed();
    // What breaking X25519 gives: X-Wing's X25519 secret, so its X25519 shared secret; the ML-KEM secret it must guess.
    const apart = xwingApart(seed, eseed);
    expect(sodium.crypto_scalarmult(apart.skX, sent.ciphertext.subarray(1088))).toEqual(apart.ssX);
    for (const guessM of [new Uint8Array(32), apart.ssX, sodium.crypto_kem_mlkem768_dec(sent.ciphertext.subarray(0, 1088), sodium.crypto_kem_mlkem768_keypair().privateKey)]) {
      const guess = sha3_256(concat(guessM, apart.ssX, apart.ctX, apart.pkX, XWING_LABEL));
      expect(() => open(pairwiseKey({ ...base, mySecretKey: member.boxSecretKey, theirPublicKey: host.boxPublicKey, kemSecret: guess }))).toThrow(/does not open/);
    }
  });

  it('a ciphertext altered on its way decapsulates to an unrelated secret: the package does not open, nothing throws', () => {
    const { open, base, sent, seed } = keyed();
    for (const at of [0, 500, 1087, 1100]) {
      const altered = sent.ciphertext.slice();
      altered[at]! ^= 1;
      const secret = decapsulate(altered, seed)!;
      expect(secret).not.toEqual(sent.sharedSecret);
      expect(() => open(pairwiseKey({ ...base, mySecretKey: member.boxSecretKey, theirPublicKey: host.boxPublicKey, kemSecret: secret }))).toThrow(/does not open/);
    }
  });
});
