// Fast-check arbitraries for hostile signaling traffic, derived from the zod schemas: valid-shaped payloads and mutations.
import fc from 'fast-check';
import { z } from 'zod';
import { requests, REQUEST_TYPES, type RequestType } from '../../protocol/messages.ts';

interface JsonSchema {
  type?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  enum?: unknown[];
  const?: unknown;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
}

/**
 * Ids the relay really issued are only known while the fuzz runs, so a payload names them by a placeholder,
 * resolved when it is sent: a fuzz that only ever sends random ids never gets past "no such transport".
 */
export class Ref {
  readonly pool: string;
  readonly n: number;
  constructor(pool: string, n: number) {
    this.pool = pool;
    this.n = n;
  }
}

/** Very large or deep values are built when sent, not held by the thousands in the sample. */
export class Huge {
  readonly kind: 'string' | 'array' | 'nested arrays' | 'nested objects';
  readonly length: number;
  constructor(kind: Huge['kind'], length: number) {
    this.kind = kind;
    this.length = length;
  }
}

/** Which pool of live values a field draws from. */
const POOL_OF: Record<string, string> = {
  roomId: 'roomId',
  newRoomId: 'roomId',
  participantId: 'participantId',
  to: 'participantId',
  transportId: 'transportId',
  producerId: 'producerId',
  consumerId: 'consumerId',
  announcement: 'announcement',
  rtpParameters: 'rtpParameters',
  rtpCapabilities: 'rtpCapabilities',
};

const BASE64URL = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'];
/** The character classes the schemas' patterns are built from (ids and blobs; challenge nonces). */
const ALPHABETS: [string, string[]][] = [
  ['^[A-Za-z0-9_-]', BASE64URL],
  ['^[0-9a-f]', [...'0123456789abcdef']],
];
/** socket.io-client throws on these before sending anything. */
const CLIENT_RESERVED = new Set(['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener']);

function shapeOf(s: JsonSchema): fc.Arbitrary<unknown> {
  if (s.const !== undefined) return fc.constant(s.const);
  if (s.enum) return fc.constantFrom(...s.enum);
  switch (s.type) {
    case 'string': {
      if (!s.pattern) return fc.string({ maxLength: Math.min(s.maxLength ?? 32, 32) });
      // A new pattern in protocol/messages.ts needs its own generator here; fail loudly rather than fuzz it blindly.
      const alphabet = ALPHABETS.find(([prefix]) => s.pattern!.startsWith(prefix))?.[1];
      if (!alphabet) throw new Error(`no generator for pattern ${s.pattern}`);
      const fixed = /\{(\d+)\}\$$/.exec(s.pattern);
      const minLength = fixed ? Number(fixed[1]) : (s.minLength ?? 0);
      const maxLength = fixed ? minLength : Math.min(s.maxLength ?? 64, 64);
      return fc.string({ unit: fc.constantFrom(...alphabet), minLength, maxLength });
    }
    case 'integer': {
      const min = s.minimum ?? -(2 ** 31);
      const max = s.maximum ?? 2 ** 31 - 1;
      return fc.oneof(fc.integer({ min, max: Math.min(max, 2 ** 31 - 1) }), fc.constantFrom(min, max));
    }
    case 'boolean':
      return fc.boolean();
    case 'array':
      return fc.array(shapeOf(s.items ?? {}), { minLength: s.minItems ?? 0, maxLength: Math.min(s.maxItems ?? 4, 4) });
    case 'object':
      if (s.properties) {
        const props = Object.fromEntries(Object.entries(s.properties).map(([key, child]) => [key, field(key, child)]));
        return fc.record(props, { requiredKeys: s.required ?? [] });
      }
      return fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 6 });
  }
  throw new Error(`no generator for schema ${JSON.stringify(s)}`);
}

/** A field's value: mostly a live value from its pool when it has one, else a fresh valid-shaped one. */
function field(name: string, s: JsonSchema): fc.Arbitrary<unknown> {
  const pool = POOL_OF[name];
  if (!pool) return shapeOf(s);
  const live = fc.nat().map((n) => new Ref(pool, n));
  if (s.type === 'array') return fc.oneof(shapeOf(s), fc.array(live, { maxLength: 4 }));
  return fc.oneof({ arbitrary: live, weight: 3 }, { arbitrary: shapeOf(s), weight: 1 });
}

function build(huge: Huge): unknown {
  if (huge.kind === 'string') return 'A'.repeat(huge.length);
  if (huge.kind === 'array') return new Array(huge.length).fill(7);
  let value: unknown = 'core';
  for (let i = 0; i < huge.length; i++) value = huge.kind === 'nested arrays' ? [value] : { a: value };
  return value;
}

const wrongValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.string({ maxLength: 16 }),
  fc.array(fc.integer(), { maxLength: 4 }),
  fc.object({ maxDepth: 2 }),
  fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)),
);

/** Valid-shaped payloads broken in one way each: wrong type, missing or extra field, oversize, deep, huge. */
function mutated(s: JsonSchema, valid: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<unknown> {
  const keys = Object.keys(s.properties ?? {});
  const required = s.required ?? [];
  const strings = keys.filter((k) => s.properties![k]!.type === 'string');
  const anyKey = fc.constantFrom(...keys, null);
  const put = (p: Record<string, unknown>, key: string | null, value: unknown) => (key === null ? value : { ...p, [key]: value });
  const options: fc.Arbitrary<unknown>[] = [
    fc
      .tuple(
        valid,
        fc.string({ minLength: 1, maxLength: 24 }).filter((k) => !keys.includes(k)),
        fc.jsonValue({ maxDepth: 2 }),
      )
      .map(([p, k, v]) => ({ ...p, [k]: v })),
    fc.tuple(valid, fc.integer({ min: 200, max: 3_000 }), fc.boolean(), anyKey).map(([p, depth, asArray, key]) => put(p, key, new Huge(asArray ? 'nested arrays' : 'nested objects', depth))),
    fc.tuple(valid, fc.integer({ min: 10_001, max: 100_000 }), anyKey).map(([p, n, key]) => put(p, key, new Huge('array', n))),
    fc.oneof(fc.anything({ maxDepth: 3 }), fc.constant(undefined), fc.constant(null)),
  ];
  if (keys.length) options.push(fc.tuple(valid, fc.constantFrom(...keys), wrongValue).map(([p, k, v]) => ({ ...p, [k]: v })));
  if (required.length) {
    options.push(fc.tuple(valid, fc.constantFrom(...required)).map(([p, k]) => Object.fromEntries(Object.entries(p).filter(([key]) => key !== k))));
  }
  if (strings.length) {
    options.push(fc.tuple(valid, fc.constantFrom(...strings)).map(([p, k]) => ({ ...p, [k]: new Huge('string', (s.properties![k]!.maxLength ?? 10_000) + 1) })));
  }
  return fc.oneof(...options);
}

export interface FuzzMessage {
  event: string;
  /** The arguments before the acknowledgement callback, with Ref and Huge placeholders still in them. */
  args: unknown[];
  ack: boolean;
}

const PAYLOADS = Object.fromEntries(
  REQUEST_TYPES.map((type) => {
    const schema = z.toJSONSchema(requests[type].request) as JsonSchema;
    const valid = shapeOf(schema) as fc.Arbitrary<Record<string, unknown>>;
    return [type, fc.oneof(valid, mutated(schema, valid))];
  }),
) as Record<RequestType, fc.Arbitrary<unknown>>;

const requestType = fc.constantFrom(...REQUEST_TYPES);
const unknownEvent = fc
  .oneof(
    fc.string({ maxLength: 40 }),
    fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'error', 'ROOM.JOIN', 'room.join ', 'room', ''),
    fc.constantFrom(...REQUEST_TYPES).map((t) => `${t}.x`),
    fc.constant('x'.repeat(5_000)),
  )
  .filter((name) => !CLIENT_RESERVED.has(name) && !Object.hasOwn(requests, name));

/** Nine in ten messages carry an acknowledgement callback; the others must be answered with an `error` event. */
const withAck = fc.oneof({ arbitrary: fc.constant(true), weight: 9 }, { arbitrary: fc.constant(false), weight: 1 });

export const fuzzMessage: fc.Arbitrary<FuzzMessage> = fc.oneof(
  { weight: 16, arbitrary: requestType.chain((event) => fc.record({ event: fc.constant(event), args: PAYLOADS[event].map((p) => [p]), ack: withAck })) },
  { weight: 2, arbitrary: fc.record({ event: unknownEvent, args: fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 2 }), ack: withAck }) },
  { weight: 1, arbitrary: fc.record({ event: requestType, args: fc.uint8Array({ maxLength: 4_096 }).map((b) => [Buffer.from(b)]), ack: withAck }) },
  { weight: 1, arbitrary: fc.record({ event: requestType, args: fc.constant<unknown[]>([]), ack: withAck }) },
  { weight: 1, arbitrary: fc.record({ event: requestType, args: fc.tuple(PAYLOADS['room.peek'], fc.jsonValue({ maxDepth: 1 })), ack: withAck }) },
);

/** Replaces placeholders with live values (or fresh random ones when a pool is still empty). */
export function resolve(value: unknown, pools: Map<string, unknown[]>): unknown {
  if (value instanceof Ref) {
    const pool = pools.get(value.pool);
    return pool?.length ? pool[value.n % pool.length] : BASE64URL.join('').slice(0, 22);
  }
  if (value instanceof Huge) return build(value);
  if (Buffer.isBuffer(value) || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => resolve(v, pools));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v, pools)]));
}

/** Keys of replies and events whose values feed the pools; resume tokens stay out, so no client steals another. */
const HARVESTED: Record<string, string> = { participantId: 'participantId', transportId: 'transportId', producerId: 'producerId', consumerId: 'consumerId', newRoomId: 'roomId' };
const POOL_SIZE = 64;

/** Collects the ids a reply or event names into the pools, newest kept. */
export function harvest(value: unknown, pools: Map<string, unknown[]>, depth = 0): void {
  if (depth > 4 || value === null || typeof value !== 'object') return;
  for (const [key, child] of Object.entries(value)) {
    const pool = HARVESTED[key];
    if (pool && typeof child === 'string') {
      const list = pools.get(pool) ?? [];
      if (!list.includes(child)) list.push(child);
      if (list.length > POOL_SIZE) list.shift();
      pools.set(pool, list);
    } else if (key !== 'routerRtpCapabilities') harvest(child, pools, depth + 1);
  }
}
