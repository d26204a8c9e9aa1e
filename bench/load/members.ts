// The rekey benchmark's member process: a host and N-1 members as socket.io clients with the browser's own Membership.
// Members only record when a commit reaches them; opening it is timed afterwards, one by one, as each member's own
// device would do it in parallel (one Node thread opening 1,000 commits in a row would measure this process instead).
import { io, type Socket } from 'socket.io-client';
import { CommitError, createAnnouncement, fromHex, generateIdentity, initCrypto, deriveRoomKeys, sealMetadata, type Identity, type RoomKeys } from '../../crypto/index.ts';
import { Membership, type VerifiedMember } from '../../client/src/session/membership.ts';
import { request } from '../../protocol/client.ts';
import type { EventOf } from '../../protocol/messages.ts';
import { median } from '../report.ts';

export interface RekeyCommand {
  url: string;
  roomSecretHex: string;
  members: number;
}

export interface RekeyResult {
  members: number;
  /** Host: from the leave reaching it to its commit sent. */
  buildMs: number;
  commitBytes: number;
  /** From the leaver's request to the last remaining member holding the commit. */
  lastReceivedMs: number;
  medianOpenMs: number;
  /** From the leaver's request to the last member able to decrypt the new epoch (its receive time + its open time). */
  lastReadyMs: number;
  medianReadyMs: number;
  /** Every remaining member opened the same secret, and the leaver could not open the commit. */
  agreed: boolean;
}

interface Member {
  socket: Socket;
  membership: Membership;
  participantId: string;
  announcement: string;
  commits: { epoch: number; commit: string; at: number }[];
}

function makeAnnouncement(keys: RoomKeys, identity: Identity, name: string): string {
  return createAnnouncement({ roomId: keys.roomId, authKey: keys.authKey, identity, sealedProfile: sealMetadata(keys.metaKey, keys.roomId, 'profile', { name }) });
}

async function connect(url: string): Promise<Socket> {
  const socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  return socket;
}

async function newMember(url: string, keys: RoomKeys, name: string, host: boolean): Promise<Member> {
  const identity = generateIdentity();
  const announcement = makeAnnouncement(keys, identity, name);
  const socket = await connect(url);
  const member: Member = { socket, membership: new Membership(keys, identity), participantId: '', announcement, commits: [] };
  socket.on('key.commit', ({ epoch, commit }: EventOf<'key.commit'>) => member.commits.push({ epoch, commit, at: performance.now() }));
  const joined = host
    ? await request(socket, 'room.create', { roomId: keys.roomId, announcement, sealedTitle: sealMetadata(keys.metaKey, keys.roomId, 'room-title', 'Bench') })
    : await request(socket, 'room.join', { roomId: keys.roomId, announcement });
  if ('lobby' in joined) throw new Error('unexpected lobby');
  member.participantId = joined.participantId;
  return member;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(check: () => boolean, what: string, timeoutMs = 120_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

async function measureRekey({ url, roomSecretHex, members: size }: RekeyCommand): Promise<RekeyResult> {
  await initCrypto();
  const keys = deriveRoomKeys(fromHex(roomSecretHex));
  const host = await newMember(url, keys, 'Host', true);
  const others: Member[] = [];
  for (let i = 1; i < size; i += 50) {
    others.push(...(await Promise.all(Array.from({ length: Math.min(50, size - i) }, (_, j) => newMember(url, keys, `Member ${i + j}`, false)))));
  }
  const verify = (m: Member): VerifiedMember => host.membership.verify(m.participantId, m.announcement)!;
  // Members verify the host's announcement, as the browser does from the join reply, and count it present: the
  // distributor whose commits they follow. Each verifying all N announcements is the join's cost, not the rekey's.
  const present = new Set([host.membership.me]);
  for (const m of others) if (!m.membership.verify(host.participantId, host.announcement)) throw new Error('host announcement did not verify');

  // Epoch 1 for everyone, as the host issues it when the room starts.
  const first = host.membership.issueFresh([verify(host), ...others.map(verify)]);
  await request(host.socket, 'key.commit', { commit: first.blob, epoch: first.epoch });
  await until(() => others.every((m) => m.commits.length > 0), 'epoch 1');
  for (const m of others) m.membership.accept(m.commits.pop()!.commit, present);

  // A listener leaves; the host answers the peer.left exactly as the browser does: a fresh secret for those who stay.
  const leaver = others.pop()!;
  let buildMs = 0;
  let commitBytes = 0;
  host.socket.once('peer.left', () => {
    const t = performance.now();
    const issued = host.membership.issueFresh([verify(host), ...others.map(verify)]);
    buildMs = performance.now() - t;
    commitBytes = issued.blob.length;
    void request(host.socket, 'key.commit', { commit: issued.blob, epoch: issued.epoch });
  });
  const t0 = performance.now();
  await request(leaver.socket, 'room.leave', {});
  await until(() => others.every((m) => m.commits.some((c) => c.epoch === 2)), 'epoch 2');

  const opens: number[] = [];
  const ready: number[] = [];
  const secrets = new Set<string>();
  for (const m of others) {
    const c = m.commits.find((x) => x.epoch === 2)!;
    const t = performance.now();
    const state = m.membership.accept(c.commit, present);
    const open = performance.now() - t;
    opens.push(open);
    ready.push(c.at - t0 + open);
    secrets.add(Buffer.from(state.secret).toString('hex'));
  }
  let leaverLocked = false;
  try {
    leaver.membership.accept(others[0]!.commits.find((x) => x.epoch === 2)!.commit, present);
  } catch (error) {
    // Locked out by the cryptography (nothing sealed to it), not by some policy check that a modified client would skip.
    leaverLocked = error instanceof CommitError && /no key for me/.test(error.message);
  }
  for (const m of [host, leaver, ...others]) m.socket.disconnect();
  return {
    members: size,
    buildMs,
    commitBytes,
    lastReceivedMs: Math.max(...others.map((m) => m.commits.find((c) => c.epoch === 2)!.at - t0)),
    medianOpenMs: median(opens),
    lastReadyMs: Math.max(...ready),
    medianReadyMs: median(ready),
    agreed: secrets.size === 1 && secrets.has(Buffer.from(host.membership.current!.secret).toString('hex')) && leaverLocked,
  };
}

process.on('message', async (command: RekeyCommand) => {
  try {
    process.send!({ ok: true, result: await measureRekey(command) });
  } catch (error) {
    process.send!({ ok: false, error: (error as Error).message });
  }
});
