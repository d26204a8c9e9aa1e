import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addressPackages } from '../../client/src/session/key-delivery.ts';
import { toHex } from '../../crypto/bytes.ts';

describe('addressPackages', () => {
  it("sends each present member its package once, in order, in full messages of at most perMessage, the header's first", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(
          fc.uint8Array({ minLength: 2, maxLength: 2 }).map((b) => toHex(b)),
          { maxLength: 60 },
        ),
        fc.func(fc.boolean()),
        fc.integer({ min: 1, max: 7 }),
        (memberKeyIds, present, perMessage) => {
          const packages = memberKeyIds.map((memberKeyId) => ({ memberKeyId, package: `pkg-${memberKeyId}` }));
          const participantOf = new Map(memberKeyIds.filter((id) => present(id)).map((id) => [id, `p-${id}`]));
          const messages = addressPackages(packages, participantOf, perMessage);
          const expected = packages.filter((p) => participantOf.has(p.memberKeyId)).map((p) => ({ to: participantOf.get(p.memberKeyId)!, package: p.package }));
          expect(messages.flat()).toEqual(expected);
          expect(messages.length).toBe(Math.max(1, Math.ceil(expected.length / perMessage)));
          for (const message of messages.slice(0, -1)) expect(message.length).toBe(perMessage);
          expect(messages.at(-1)!.length).toBeLessThanOrEqual(perMessage);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('gives the header a message of its own when no one present has a package, and refuses an empty message size', () => {
    expect(addressPackages([], new Map(), 1000)).toEqual([[]]);
    expect(addressPackages([{ memberKeyId: 'aa', package: 'x' }], new Map(), 1000)).toEqual([[]]);
    expect(() => addressPackages([], new Map(), 0)).toThrow(RangeError);
  });
});
