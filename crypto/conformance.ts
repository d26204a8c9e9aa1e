// Checks an RFC 9605 test-vector file (sections header, sframe, and the AEAD sections) against crypto/sframe.ts.
import { fromHex, toHex } from './bytes.ts';
import { aeadDecrypt, aeadEncrypt, CIPHER_SUITES, decodeHeader, decryptFrame, deriveKeySalt, encodeHeader, encryptFrame } from './sframe.ts';

type Vector = Record<string, unknown>;

export interface ConformanceResult {
  passed: number;
  failures: string[];
}

/** JSON.parse that keeps 64-bit integers exact (the vectors use KIDs and counters up to 2^64 - 1). */
export function parseVectors(text: string): Record<string, Vector[]> {
  return JSON.parse(text, (_key, value, context?: { source?: string }) => (typeof value === 'number' && context?.source !== undefined && /^-?\d+$/.test(context.source) ? BigInt(context.source) : value));
}

const big = (v: unknown): bigint => (typeof v === 'bigint' ? v : BigInt(v as number));
const hex = (v: unknown): Uint8Array => fromHex(String(v));

export async function runConformance(vectors: Record<string, Vector[]>): Promise<ConformanceResult> {
  const failures: string[] = [];
  let passed = 0;
  const check = async (name: string, fn: () => string | null | Promise<string | null>) => {
    let problem: string | null;
    try {
      problem = await fn();
    } catch (error) {
      problem = `threw ${(error as Error).name}: ${(error as Error).message}`;
    }
    if (problem === null) passed++;
    else failures.push(`${name}: ${problem}`);
  };

  for (const [i, v] of (vectors.header ?? []).entries()) {
    const kid = big(v.kid);
    const counter = big(v.ctr);
    const name = `header[${i}] kid=${kid} ctr=${counter}`;
    await check(`${name} encode`, () => {
      const got = toHex(encodeHeader(kid, counter));
      return got === v.encoded ? null : `encoded ${got}, expected ${v.encoded}`;
    });
    await check(`${name} decode`, () => {
      const encoded = hex(v.encoded);
      const h = decodeHeader(encoded);
      return h.kid === kid && h.counter === counter && h.length === encoded.length ? null : `decoded kid=${h.kid} ctr=${h.counter} length=${h.length}`;
    });
  }

  for (const section of ['aes_ctr_hmac', 'aes_256_ctr_hmac']) {
    for (const [i, v] of (vectors[section] ?? []).entries()) {
      const suite = Number(v.cipher_suite);
      await check(`${section}[${i}] suite=${suite}`, async () => {
        if (!CIPHER_SUITES[suite]) return 'cipher suite not implemented';
        const ct = toHex(await aeadEncrypt(suite, hex(v.key), hex(v.nonce), hex(v.aad), hex(v.pt)));
        if (ct !== v.ct) return `ciphertext ${ct}, expected ${v.ct}`;
        const pt = toHex(await aeadDecrypt(suite, hex(v.key), hex(v.nonce), hex(v.aad), hex(v.ct)));
        return pt === v.pt ? null : `decrypted ${pt}, expected ${v.pt}`;
      });
    }
  }

  for (const [i, v] of (vectors.sframe ?? []).entries()) {
    const suite = Number(v.cipher_suite);
    const kid = big(v.kid);
    const counter = big(v.ctr);
    const name = `sframe[${i}] suite=${suite}`;
    await check(`${name} key schedule`, () => {
      const m = deriveKeySalt(suite, kid, hex(v.base_key));
      if (toHex(m.secret) !== v.sframe_secret) return `sframe_secret ${toHex(m.secret)}`;
      if (toHex(m.key) !== v.sframe_key) return `sframe_key ${toHex(m.key)}`;
      return toHex(m.salt) === v.sframe_salt ? null : `sframe_salt ${toHex(m.salt)}`;
    });
    await check(`${name} encrypt`, async () => {
      const m = deriveKeySalt(suite, kid, hex(v.base_key));
      const ct = toHex(await encryptFrame(suite, m, kid, counter, hex(v.pt), hex(v.metadata)));
      return ct === v.ct ? null : `ct ${ct}, expected ${v.ct}`;
    });
    await check(`${name} decrypt`, async () => {
      const m = deriveKeySalt(suite, kid, hex(v.base_key));
      const { header, plaintext } = await decryptFrame(suite, m, hex(v.ct), hex(v.metadata));
      if (header.kid !== kid || header.counter !== counter) return `header kid=${header.kid} ctr=${header.counter}`;
      return toHex(plaintext) === v.pt ? null : `pt ${toHex(plaintext)}`;
    });
  }
  return { passed, failures };
}
