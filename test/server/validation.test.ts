import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIMITS, requests, type RequestType } from '../../protocol/messages.ts';
import type { Relay } from '../../server/index.ts';
import { announce, connect, newRoom, sealedTitle, startTestRelay, type TestClient } from '../helpers/relay.ts';

const ROOM = 'A'.repeat(22);
const ID = 'abcDEF123_-';
const BLOB = 'QUJD';
const NONCE = '0123456789abcdef'.repeat(2);
/** A key package: 80 bytes of base64url (crypto/epoch.ts PACKAGE_BYTES). */
const PACKAGE = 'P'.repeat(107);
/** A stream certificate: 96 bytes of base64url (crypto/stream-key.ts STREAM_CERT_BYTES). */
const CERTIFICATE = 'C'.repeat(128);

/** One valid payload per message type: each mutation below breaks exactly one thing about it. */
const VALID: Record<RequestType, Record<string, unknown>> = {
  'room.peek': { roomId: ROOM },
  'room.create': { roomId: ROOM, announcement: BLOB, sealedTitle: BLOB },
  'room.join': { roomId: ROOM, announcement: BLOB, resumeToken: 'tok' },
  'room.leave': {},
  'room.away': {},
  'room.lock': { locked: true, decision: BLOB },
  'room.end': {},
  'room.rotate': { newRoomId: ROOM, sealedTitle: BLOB },
  'transport.create': { direction: 'send' },
  'turn.credentials': {},
  'transport.connect': { transportId: ID, dtlsParameters: { role: 'client', fingerprints: [{ algorithm: 'sha-256', value: 'AA' }] } },
  'transport.restartIce': { transportId: ID },
  'producer.create': { transportId: ID, kind: 'audio', rtpParameters: { codecs: [] }, streamCertificate: CERTIFICATE },
  'producer.pause': { producerId: ID },
  'producer.resume': { producerId: ID },
  'producer.close': { producerId: ID },
  'consumer.create': { producerId: ID, rtpCapabilities: { codecs: [] } },
  'consumer.resume': { consumerId: ID },
  'key.commit': { commit: BLOB, epoch: 2, packages: [{ to: ID, package: PACKAGE }] },
  'key.packages': { epoch: 2, packages: [{ to: ID, package: PACKAGE }] },
  'hand.raise': {},
  'hand.lower': {},
  'stage.invite': { participantId: ID, decision: BLOB },
  'stage.respond': { accept: true, decision: BLOB },
  'stage.leave': { decision: BLOB },
  'stage.moveToAudience': { participantId: ID, decision: BLOB },
  'stage.mute': { participantId: ID, decision: BLOB },
  'role.setModerator': { participantId: ID, moderator: true, decision: BLOB },
  'member.kick': { participantId: ID, decision: BLOB },
  'member.reannounce': { announcement: BLOB },
  'lobby.admit': { participantId: ID, decision: BLOB },
  'epoch.challenge': { to: ID, nonce: NONCE },
  'key.resend': { to: ID },
  'key.kem': { offers: [{ to: ID, offer: 'K'.repeat(1579) }] },
  'epoch.confirm': { to: ID, confirmation: BLOB },
  'lobby.decline': { participantId: ID },
  'audience.page': { after: 3, limit: 50 },
  'room.message': { message: BLOB },
};

const OVERSIZE: Record<string, number> = {
  announcement: LIMITS.announcement,
  sealedTitle: LIMITS.sealedTitle,
  commit: LIMITS.commit,
  decision: LIMITS.decision,
  confirmation: LIMITS.confirmation,
  message: LIMITS.roomMessage,
};

/** Values of the right type and size in a shape the schema refuses. */
const MALFORMED: Record<string, string> = { nonce: NONCE.toUpperCase(), decision: `${BLOB}+`, confirmation: `${BLOB}=`, message: `${BLOB}/` };

function mutations(type: RequestType): { name: string; payload: unknown; field: string }[] {
  const valid = VALID[type];
  const out: { name: string; payload: unknown; field: string }[] = [{ name: 'unknown field', payload: { ...valid, sneaky: 1 }, field: '' }];
  out.push({ name: 'not an object', payload: 'hello', field: '' });
  for (const [key, value] of Object.entries(valid)) {
    const { [key]: _removed, ...without } = valid;
    const optional = requests[type].request.safeParse(without).success;
    if (!optional) out.push({ name: `missing ${key}`, payload: without, field: key });
    out.push({ name: `wrong type of ${key}`, payload: { ...valid, [key]: typeof value === 'boolean' ? 'yes' : true }, field: key });
    if (typeof value === 'string') out.push({ name: `oversized ${key}`, payload: { ...valid, [key]: 'A'.repeat((OVERSIZE[key] ?? 100) + 1) }, field: key });
    if (key in MALFORMED) out.push({ name: `malformed ${key}`, payload: { ...valid, [key]: MALFORMED[key] }, field: key });
  }
  return out;
}

let relay: Relay;
let bystander: TestClient;
let bystanderRoom: string;
beforeAll(async () => {
  relay = await startTestRelay();
  const room = await newRoom();
  bystander = await connect(relay);
  await bystander.req('room.create', { roomId: room.keys.roomId, announcement: announce(room, 'B'), sealedTitle: sealedTitle(room, 'quiet') });
  bystanderRoom = room.keys.roomId;
});
afterAll(() => relay?.close());

describe('every message type refuses malformed input with BAD_REQUEST', () => {
  it('has a valid example for every message type', () => {
    for (const type of Object.keys(requests) as RequestType[]) expect(requests[type].request.safeParse(VALID[type]).success, type).toBe(true);
  });

  for (const type of Object.keys(requests) as RequestType[]) {
    it(type, async () => {
      const client = await connect(relay);
      for (const m of mutations(type)) {
        const reply = (await client.raw(type, m.payload)) as { ok: boolean; error: { code: string; message: string } };
        expect(reply, `${type} ${m.name}`).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
        expect(reply.error.message, `${type} ${m.name}`).toContain(type);
        if (m.field) expect(reply.error.message, `${type} ${m.name}`).toContain(m.field);
      }
      // The same connection keeps working.
      expect(await client.req('room.peek', { roomId: bystanderRoom })).toMatchObject({ exists: true });
      client.close();
    });
  }
});

describe('other malformed traffic', () => {
  it('unknown message types, missing acknowledgements and state errors get codes', async () => {
    const client = await connect(relay);
    expect(await client.raw('room.destroyEverything', {})).toMatchObject({ ok: false, error: { code: 'UNKNOWN_MESSAGE' } });
    const err = client.next('error');
    client.socket.emit('room.peek', { roomId: ROOM });
    expect(await err).toMatchObject({ code: 'BAD_REQUEST' });
    expect(await client.raw('hand.raise', {})).toMatchObject({ ok: false, error: { code: 'NOT_IN_ROOM' } });
    expect(await client.raw('room.join', { roomId: ROOM, announcement: BLOB })).toMatchObject({ ok: false, error: { code: 'ROOM_NOT_FOUND' } });
    client.close();
  });

  it('key packages are refused unless each is 107 base64url characters to one participant, at most 1,000 a message', async () => {
    const client = await connect(relay);
    const entry = { to: ID, package: PACKAGE };
    const badLists: [string, unknown[]][] = [
      ['a short package', [{ ...entry, package: PACKAGE.slice(1) }]],
      ['a long package', [{ ...entry, package: `${PACKAGE}A` }]],
      ['padding', [{ ...entry, package: `${PACKAGE.slice(1)}=` }]],
      ['a character outside base64url', [{ ...entry, package: `${PACKAGE.slice(1)}+` }]],
      ['no recipient', [{ package: PACKAGE }]],
      ['no package', [{ to: ID }]],
      ['a recipient that is no id', [{ ...entry, to: 'a b' }]],
      ['an extra field', [{ ...entry, from: ID }]],
      ['a bare string', [PACKAGE]],
      ['too many', Array.from({ length: LIMITS.packagesPerMessage + 1 }, () => entry)],
    ];
    for (const [name, packages] of badLists) {
      for (const [type, payload] of [
        ['key.commit', { commit: BLOB, epoch: 2, packages }],
        ['key.packages', { epoch: 2, packages }],
      ] as const) {
        const reply = (await client.raw(type, payload)) as { ok: boolean; error: { code: string; message: string } };
        expect(reply, `${type}: ${name}`).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
        expect(reply.error.message, `${type}: ${name}`).toContain('packages');
      }
    }
    // The largest message is well-formed: refused for not being in a room, not for its shape.
    const full = Array.from({ length: LIMITS.packagesPerMessage }, () => entry);
    expect(await client.raw('key.packages', { epoch: 2, packages: full })).toMatchObject({ ok: false, error: { code: 'NOT_IN_ROOM' } });
    expect(await client.raw('key.commit', { commit: BLOB, epoch: 2, packages: [] })).toMatchObject({ ok: false, error: { code: 'NOT_IN_ROOM' } });
    // withPackages is a flag that is set or absent.
    expect(await client.raw('key.commit', { commit: BLOB, epoch: 2, packages: [], withPackages: true })).toMatchObject({ ok: false, error: { code: 'NOT_IN_ROOM' } });
    for (const withPackages of [false, 'yes', 1]) {
      expect(await client.raw('key.commit', { commit: BLOB, epoch: 2, packages: [], withPackages }), String(withPackages)).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST', message: expect.stringContaining('withPackages') } });
    }
    client.close();
  });

  it("a producer's stream certificate is refused unless it is 128 base64url characters (96 bytes)", async () => {
    const client = await connect(relay);
    const produce = { transportId: ID, kind: 'audio', rtpParameters: { codecs: [] } };
    const bad: [string, unknown][] = [
      ['a short certificate', CERTIFICATE.slice(1)],
      ['a long certificate', `${CERTIFICATE}C`],
      ['padding', `${CERTIFICATE.slice(2)}==`],
      ['a character outside base64url', `${CERTIFICATE.slice(1)}/`],
      ['bytes as a list', Array.from({ length: 96 }, () => 1)],
      ['null', null],
    ];
    for (const [name, streamCertificate] of bad) {
      const reply = (await client.raw('producer.create', { ...produce, streamCertificate })) as { ok: boolean; error: { code: string; message: string } };
      expect(reply, name).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST', message: expect.stringContaining('streamCertificate') } });
    }
    expect(await client.raw('producer.create', produce)).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST', message: expect.stringContaining('streamCertificate') } });
    // Well-formed: refused for not being in a room, not for its shape.
    expect(await client.raw('producer.create', { ...produce, streamCertificate: CERTIFICATE })).toMatchObject({ ok: false, error: { code: 'NOT_IN_ROOM' } });
    client.close();
  });

  it('an announcement the relay cannot read a signing key from is refused, so a kick cannot be dodged', async () => {
    const client = await connect(relay);
    const other = await newRoom();
    expect(await client.raw('room.create', { roomId: other.keys.roomId, announcement: BLOB, sealedTitle: BLOB })).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST', message: expect.stringContaining('announcement') } });
    expect(await client.raw('room.join', { roomId: bystanderRoom, announcement: BLOB })).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    expect(relay.rooms.has(other.keys.roomId)).toBe(false);
    expect(relay.rooms.get(bystanderRoom)!.members.size).toBe(1);
    client.close();
  });

  it('DTLS parameters mediasoup refuses, or a second connect, are BAD_REQUEST rather than INTERNAL', async () => {
    const client = await connect(relay);
    const room = await newRoom();
    await client.req('room.create', { roomId: room.keys.roomId, announcement: announce(room, 'H'), sealedTitle: sealedTitle(room, 't') });
    const { transportId } = await client.req('transport.create', { direction: 'send' });
    const fingerprint = { algorithm: 'sha-256', value: 'AA' };
    expect(await client.raw('transport.connect', { transportId, dtlsParameters: { fingerprints: [{ algorithm: 'md-none', value: 'x' }] } })).toMatchObject({
      ok: false,
      error: { code: 'BAD_REQUEST', message: expect.stringContaining('dtlsParameters') },
    });
    expect(await client.raw('transport.connect', { transportId, dtlsParameters: { role: 'client', fingerprints: [fingerprint] } })).toMatchObject({ ok: true });
    expect(await client.raw('transport.connect', { transportId, dtlsParameters: { role: 'client', fingerprints: [fingerprint] } })).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    client.close();
  });

  it('a payload beyond the size limit drops only that connection', async () => {
    const client = await connect(relay);
    const gone = new Promise((r) => client.socket.once('disconnect', r));
    client.socket.emit('room.peek', { roomId: 'x'.repeat(relay.config.maxMessageBytes + 10) });
    await gone;
    const again = await connect(relay);
    expect(await again.req('room.peek', { roomId: bystanderRoom })).toMatchObject({ exists: true });
    again.close();
  });

  it('a flood is rate-limited with RATE_LIMITED', async () => {
    const client = await connect(relay);
    const replies = await Promise.all(Array.from({ length: relay.config.messageBurst + 50 }, () => client.raw('room.peek', { roomId: bystanderRoom })));
    const codes = replies.map((r) => ((r as { ok: boolean }).ok ? 'ok' : (r as { error: { code: string } }).error.code));
    expect(codes).toContain('RATE_LIMITED');
    expect(codes).toContain('ok');
    client.close();
  });

  it('the bystander room saw nothing of it', () => {
    expect(relay.rooms.get(bystanderRoom)!.members.size).toBe(1);
    expect(bystander.received.filter((r) => r.event !== 'error')).toEqual([]);
    expect(bystander.socket.connected).toBe(true);
  });
});
