// The big-room benchmark's distributor: creates the room and keys it with the browser's Membership, batching joins and leaves.
import { io, type Socket } from 'socket.io-client';
import { createAnnouncement, deriveRoomKeys, fromHex, generateIdentity, initCrypto, sealMetadata, toHex, type RoomKeys } from '../../crypto/index.ts';
import { KeyBatch } from '../../client/src/session/key-batch.ts';
import { addressPackages } from '../../client/src/session/key-delivery.ts';
import { Membership, type IssuedCommit, type VerifiedMember } from '../../client/src/session/membership.ts';
import { request } from '../../protocol/client.ts';
import { LIMITS, type EventOf } from '../../protocol/messages.ts';
import { answer, wallMs } from './conversation.ts';

export interface CommitRecord {
  epoch: number;
  kind: 'fresh' | 'ratchet';
  /** When the batch window closed (wall clock) and the commit was built. */
  closedAt: number;
  /** The distributor's CPU for building and sending it: its process, V8's garbage-collection threads included. */
  cpuMs: number;
  /** Of which its main thread, where a page's distributor would be busy (`process.threadCpuUsage`). */
  mainThreadMs: number;
  headerBytes: number;
  packages: number;
  joins: number;
  leaves: number;
}

let keys: RoomKeys;
let membership: Membership;
let socket: Socket;
let participantId = '';
const byParticipant = new Map<string, VerifiedMember>();
/** Kept with byParticipant rather than rebuilt for every commit: who gets each package. */
const participantOfKey = new Map<string, string>();
const commits: CommitRecord[] = [];
const keyBatch = new KeyBatch<VerifiedMember>();
let timer: ReturnType<typeof setTimeout> | null = null;
let windowMs = 500;
let sending: Promise<void> = Promise.resolve();

async function send(issued: IssuedCommit): Promise<void> {
  const [first, ...rest] = addressPackages(issued.packages, participantOfKey, LIMITS.packagesPerMessage);
  await request(socket, 'key.commit', { commit: issued.blob, epoch: issued.epoch, packages: first!, ...(issued.kind === 'fresh' ? { withPackages: true as const } : {}) }, 60_000);
  for (const packages of rest) await request(socket, 'key.packages', { epoch: issued.epoch, packages }, 60_000);
}

function add(member: VerifiedMember): void {
  byParticipant.set(member.participantId, member);
  participantOfKey.set(member.memberKeyId, member.participantId);
}

const cpuMs = (used: NodeJS.CpuUsage) => (used.user + used.system) / 1000;

/** The browser's rule (KeyBatch, as the room core uses it in core/key-core.ts): one fresh epoch for a window's leaves, one ratchet for its joins. */
function flush(): void {
  timer = null;
  const due = keyBatch.take(Date.now());
  if (!due) return;
  const closedAt = wallMs();
  const cpu = process.cpuUsage();
  const thread = process.threadCpuUsage();
  const issued = due.leaves > 0 ? membership.issueFresh([...byParticipant.values()]) : membership.issueRatchet(due.joins);
  const sent = send(issued);
  sending = sending.then(() => sent);
  void sent.then(() => {
    const used = process.cpuUsage(cpu);
    commits.push({
      epoch: issued.epoch,
      kind: issued.kind,
      closedAt,
      cpuMs: cpuMs(used),
      mainThreadMs: cpuMs(process.threadCpuUsage(thread)),
      headerBytes: issued.blob.length,
      packages: issued.packages.length,
      joins: due.joins.length,
      leaves: due.leaves,
    });
  });
}

function batch(change: { join: VerifiedMember } | { leave: true }): void {
  const dueInMs = keyBatch.add(change, Date.now(), windowMs);
  if (dueInMs === null || timer) return;
  if (dueInMs === 0) return flush();
  timer = setTimeout(flush, dueInMs);
}

answer({
  async create(command: { url: string; roomSecretHex: string }) {
    await initCrypto();
    keys = deriveRoomKeys(fromHex(command.roomSecretHex));
    const identity = generateIdentity();
    membership = new Membership(keys, identity);
    const announcement = createAnnouncement({ roomId: keys.roomId, authKey: keys.authKey, identity, sealedProfile: sealMetadata(keys.metaKey, keys.roomId, 'profile', { name: 'Host' }) });
    socket = io(command.url, { transports: ['websocket'], reconnection: false, forceNew: true });
    socket.on('peer.joined', ({ participant }: EventOf<'peer.joined'>) => {
      const verified = membership.verify(participant.participantId, participant.announcement);
      if (!verified) return;
      add(verified);
      batch({ join: verified });
    });
    socket.on('peer.left', ({ participantId: id }: EventOf<'peer.left'>) => {
      const member = byParticipant.get(id);
      if (!member) return;
      byParticipant.delete(id);
      if (participantOfKey.get(member.memberKeyId) === id) participantOfKey.delete(member.memberKeyId);
      batch({ leave: true });
    });
    const created = await request(socket, 'room.create', { roomId: keys.roomId, announcement, sealedTitle: sealMetadata(keys.metaKey, keys.roomId, 'room-title', 'Town hall') });
    participantId = created.participantId;
    windowMs = created.keyBatchMs;
    add(membership.verify(participantId, announcement)!);
    const first = membership.issueFresh([...byParticipant.values()], { roles: new Map([[identity.memberKeyId, 'host']]) });
    await send(first);
    return { participantId, announcement, windowMs };
  },
  /** The distributor's view: its epoch, the code everyone holding it reads, how many it keys, and its commit log. */
  async state() {
    await sending;
    const current = membership.current!;
    return { epoch: current.epoch, code: current.code, secretHex: toHex(current.secret), members: current.members?.length ?? 0, pendingBatch: keyBatch.hasPending() || timer !== null, commits };
  },
});
