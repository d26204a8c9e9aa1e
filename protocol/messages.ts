// The signaling protocol, written once: one zod schema per request (and its reply) and per event, shared by relay and browser.
import { z } from 'zod';

// ---- Building blocks ----

export const RoomId = z.string().regex(/^[A-Za-z0-9_-]{22}$/, 'a room id is 22 base64url characters');
export const Id = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_-]+$/, 'ids are base64url');
const Blob = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(/^[A-Za-z0-9_-]+$/, 'opaque blobs are base64url');

/** Size limits of the opaque blobs; the relay can only check their shape, never their content. */
export const LIMITS = {
  announcement: 8_192,
  sealedTitle: 2_048,
  /** A commit header: the stage (at most a few dozen members) and hashes, a few hundred bytes; bounded generously. */
  commit: 65_536,
  /** Per-recipient packages in one request: the distributor splits larger rooms over several. */
  packagesPerMessage: 1_000,
  /** KEM offers in one `key.kem`: one per stage member, whom a newcomer offers to at once. */
  kemOffersPerMessage: 64,
  /** A signed stage decision, with an invitation inside an acceptance: about 400 characters. */
  decision: 1_024,
  /** A distributor's signed epoch confirmation: 185 characters. */
  confirmation: 256,
  /** Listeners per `audience.page`: about 100 KB at most. */
  audiencePage: 200,
  /**
   * Members per page of `room.members`: about 100 KB, and under 2 MB even with every announcement at its bound, so no
   * page comes near a disconnected member's 4 MiB outbox (server/rooms/participant.ts).
   */
  membersPage: 200,
  /**
   * The schema's bound on a room message; the relay then forwards only the fixed sizes of ROOM_MESSAGE_CHARS and
   * answers anything larger with MESSAGE_TOO_LARGE.
   */
  roomMessage: 8_192,
} as const;

/**
 * The only lengths (in base64url characters) of a sealed room message (crypto/room-message.ts): three padded sizes,
 * so the relay learns a message's bucket, never its length or content.
 */
export const ROOM_MESSAGE_CHARS = [407, 1_431, 5_527] as const;
/** Room messages per member: a steady rate and a burst, enforced by the relay and by every receiver. */
export const ROOM_MESSAGE_RATE = { perSecond: 2, burst: 8 } as const;
/** A sealed room message: opaque to the relay, which checks only its shape and size. */
export const RoomMessageBlob = Blob(LIMITS.roomMessage);

export const Announcement = Blob(LIMITS.announcement);
/** A member's signed stage decision (crypto/decision.ts): the relay enforces its own rules and passes it on unread. */
export const Decision = Blob(LIMITS.decision);
const Nonce = z.string().regex(/^[0-9a-f]{32}$/, 'a nonce is 32 hex characters');
export const Commit = Blob(LIMITS.commit);
/** A commit secret under the pairwise key of distributor and recipient (crypto/epoch.ts): 80 bytes, 107 characters. */
export const Package = z.string().regex(/^[A-Za-z0-9_-]{107}$/, 'a key package is 107 base64url characters');
const KeyPackage = z.strictObject({ to: Id, package: Package });
/**
 * A speaker's stream certificate (crypto/stream-key.ts, 96 bytes): given with its producer and passed on unchanged
 * wherever a listener learns of that producer. The relay can check only its size; listeners check its signature.
 */
export const StreamCertificate = z.string().regex(/^[A-Za-z0-9_-]{128}$/, 'a stream certificate is 128 base64url characters');
/** A member's signed X-Wing ciphertext to a stage member's KEM key (crypto/kem.ts): 1,184 bytes, 1,579 characters. */
export const KemOffer = z.string().regex(/^[A-Za-z0-9_-]{1579}$/, 'a KEM offer is 1,579 base64url characters');
/** SFrame KIDs carry the epoch in 48 bits (docs/protocol.md §7). */
export const Epoch = z
  .number()
  .int()
  .min(1)
  .max(2 ** 48 - 1);
const Seq = z.number().int().nonnegative();
export const SealedTitle = Blob(LIMITS.sealedTitle);
export const Role = z.enum(['host', 'moderator', 'speaker', 'listener']);
export type Role = z.infer<typeof Role>;

// mediasoup parameters: their own shapes are validated by mediasoup itself; here only that they are bounded objects.
const Json = z.record(z.string(), z.unknown());
const DtlsParameters = z.strictObject({
  role: z.enum(['auto', 'client', 'server']).optional(),
  fingerprints: z
    .array(z.strictObject({ algorithm: z.string().max(16), value: z.string().max(128) }))
    .min(1)
    .max(8),
});
const RtpParameters = Json;
const RtpCapabilities = Json;

export const ParticipantSnapshot = z.object({
  participantId: Id,
  role: Role,
  announcement: Announcement,
  joinedSeq: Seq,
  handRaisedSeq: Seq.nullable(),
  muted: z.boolean(),
  // One microphone per participant at the relay; a few more leave room for a change without a protocol bump.
  producerIds: z.array(Id).max(8),
});
export type ParticipantSnapshot = z.infer<typeof ParticipantSnapshot>;

export const LobbyEntry = z.object({ participantId: Id, announcement: Announcement });
export type LobbyEntry = z.infer<typeof LobbyEntry>;

export const RoomSnapshot = z.object({
  roomId: RoomId,
  sealedTitle: SealedTitle,
  locked: z.boolean(),
  /** The stage and the member itself; everyone only for a member on stage (docs/protocol.md §9, who is told what). */
  participants: z.array(ParticipantSnapshot),
  /** Listeners in the room: the audience is counted, and listed only page by page to whoever asks. */
  audienceCount: z.number().int().nonnegative(),
  lobby: z.array(LobbyEntry),
});
export type RoomSnapshot = z.infer<typeof RoomSnapshot>;

/** The longest window a member accepts for gathering joins and leaves into one commit: what a leaver may still hear. */
export const MAX_KEY_BATCH_MS = 2_000;

/** A TURN server with a member's short-lived credential (coturn `use-auth-secret`), as RTCIceServer takes it. */
export const TurnIceServer = z.object({
  urls: z
    .array(
      z
        .string()
        .max(256)
        .regex(/^turns?:/, 'a TURN URL starts with turn: or turns:'),
    )
    .min(1)
    .max(4),
  username: z.string().max(128),
  credential: z.string().max(128),
});
export type TurnIceServer = z.infer<typeof TurnIceServer>;

/** A transport as transport.create answers it. */
const TransportInfo = z.object({ transportId: Id, iceParameters: Json, iceCandidates: z.array(Json), dtlsParameters: Json });
/** A paused consumer as consumer.create answers it; without the producer's certificate, the page plays nothing of it. */
const ConsumerInfo = z.object({ consumerId: Id, producerId: Id, participantId: Id, kind: z.literal('audio'), rtpParameters: Json, streamCertificate: StreamCertificate.optional() });

export const JoinResult = z.object({
  participantId: Id,
  resumeToken: z.string().max(64),
  role: Role,
  room: RoomSnapshot,
  routerRtpCapabilities: Json,
  /** The relay's batching window for commits; a relay cannot stretch it past MAX_KEY_BATCH_MS. */
  keyBatchMs: z.number().int().min(0).max(MAX_KEY_BATCH_MS),
  /**
   * Asked for with room.join's `receive`: the receive transport, TURN servers and a paused consumer of each producer,
   * made with the join (one per producer: a stage of a few dozen at most), so hearing the room takes no further round
   * trip before ICE. Absent (a resume, a lobby, a cluster edge): the client asks for each.
   */
  receive: z.object({ transport: TransportInfo, iceServers: z.array(TurnIceServer).max(2), consumers: z.array(ConsumerInfo).max(256) }).optional(),
});
export type JoinResult = z.infer<typeof JoinResult>;

const Empty = z.strictObject({});
const Ok = z.object({});

// ---- Requests: client to relay, answered through the acknowledgement ----

export const requests = {
  'room.peek': {
    request: z.strictObject({ roomId: RoomId }),
    // The router's capabilities let a page load its mediasoup Device before the click (null: no such room).
    reply: z.object({ exists: z.boolean(), sealedTitle: SealedTitle.nullable(), locked: z.boolean(), routerRtpCapabilities: Json.nullable() }),
  },
  /** `locked`: a host rebuilding a locked room on a restarted relay re-creates it locked, with no open moment. */
  'room.create': { request: z.strictObject({ roomId: RoomId, announcement: Announcement, sealedTitle: SealedTitle, locked: z.boolean().optional() }), reply: JoinResult },
  'room.join': {
    /**
     * `newPage`: a resume from a page that was loaded again (a reload), not a reconnect of the same page: its media is
     * new, so the relay closes the old page's producers, consumers and transports.
     */
    request: z.strictObject({
      roomId: RoomId,
      announcement: Announcement,
      resumeToken: z.string().max(64).optional(),
      newPage: z.literal(true).optional(),
      /** A first join from a page whose Device is loaded: its receive capabilities, for the reply's `receive`. */
      receive: z.strictObject({ rtpCapabilities: RtpCapabilities }).optional(),
    }),
    reply: z.union([JoinResult, z.object({ lobby: z.literal(true), participantId: Id })]),
  },
  'room.leave': { request: Empty, reply: Ok },
  /** The page is going away (closed, or reloaded): a disconnect now gets the short away grace, not the full one. */
  'room.away': { request: Empty, reply: Ok },
  'room.lock': { request: z.strictObject({ locked: z.boolean(), decision: Decision }), reply: Ok },
  'room.end': { request: Empty, reply: Ok },
  'room.rotate': { request: z.strictObject({ newRoomId: RoomId, sealedTitle: SealedTitle }), reply: Ok },
  'transport.create': {
    request: z.strictObject({ direction: z.enum(['send', 'recv']) }),
    reply: TransportInfo,
  },
  /** Fresh TURN credentials for this member's transports; an empty list when the relay has no TURN server. */
  'turn.credentials': { request: Empty, reply: z.object({ iceServers: z.array(TurnIceServer).max(2) }) },
  'transport.connect': { request: z.strictObject({ transportId: Id, dtlsParameters: DtlsParameters }), reply: Ok },
  'transport.restartIce': { request: z.strictObject({ transportId: Id }), reply: z.object({ iceParameters: Json }) },
  'producer.create': {
    request: z.strictObject({ transportId: Id, kind: z.literal('audio'), rtpParameters: RtpParameters, streamCertificate: StreamCertificate }),
    reply: z.object({ producerId: Id }),
  },
  'producer.pause': { request: z.strictObject({ producerId: Id }), reply: Ok },
  'producer.resume': { request: z.strictObject({ producerId: Id }), reply: Ok },
  'producer.close': { request: z.strictObject({ producerId: Id }), reply: Ok },
  'consumer.create': {
    request: z.strictObject({ producerId: Id, rtpCapabilities: RtpCapabilities }),
    reply: ConsumerInfo,
  },
  'consumer.resume': { request: z.strictObject({ consumerId: Id }), reply: Ok },
  'key.commit': {
    /**
     * Each addressed member gets the header with its own package, in one event. `to`: the header for that member
     * only (a resend); otherwise it also goes alone to the rest of the room, unless `withPackages` (a fresh epoch, in
     * which every member it keys has a package) keeps it to the packages, in this message and the key.packages of
     * the same epoch that follow.
     */
    request: z.strictObject({ commit: Commit, epoch: Epoch, packages: z.array(KeyPackage).max(LIMITS.packagesPerMessage), to: Id.optional(), withPackages: z.literal(true).optional() }),
    reply: Ok,
  },
  /** The rest of a commit's packages, for rooms with more recipients than one message carries. */
  'key.packages': { request: z.strictObject({ epoch: Epoch, packages: z.array(KeyPackage).max(LIMITS.packagesPerMessage) }), reply: Ok },
  'hand.raise': { request: Empty, reply: Ok },
  'hand.lower': { request: Empty, reply: Ok },
  'stage.invite': { request: z.strictObject({ participantId: Id, decision: Decision }), reply: Ok },
  /** Accepting carries the member's signed acceptance (with the invitation inside); declining needs no proof. */
  'stage.respond': { request: z.strictObject({ accept: z.boolean(), decision: Decision.optional() }), reply: Ok },
  'stage.leave': { request: z.strictObject({ decision: Decision }), reply: Ok },
  'stage.moveToAudience': { request: z.strictObject({ participantId: Id, decision: Decision }), reply: Ok },
  'stage.mute': { request: z.strictObject({ participantId: Id, decision: Decision }), reply: Ok },
  'role.setModerator': { request: z.strictObject({ participantId: Id, moderator: z.boolean(), decision: Decision }), reply: Ok },
  'member.kick': { request: z.strictObject({ participantId: Id, decision: Decision }), reply: Ok },
  'member.reannounce': { request: z.strictObject({ announcement: Announcement }), reply: Ok },
  'lobby.admit': { request: z.strictObject({ participantId: Id, decision: Decision }), reply: Ok },
  /** A sender asks the distributor to confirm its epoch is current; both routed to one member of the same room. */
  'epoch.challenge': { request: z.strictObject({ to: Id, nonce: Nonce }), reply: Ok },
  /**
   * A member's KEM offers, each forwarded to its `to` alone, and only to members on stage: whoever may distribute holds
   * a hybrid pairwise key with every member before any hand-over (docs/protocol.md §5).
   */
  'key.kem': {
    request: z.strictObject({
      offers: z
        .array(z.strictObject({ to: Id, offer: KemOffer }))
        .min(1)
        .max(LIMITS.kemOffersPerMessage),
    }),
    reply: Ok,
  },
  /** A member that lost its epoch (a reload) or missed a commit asks the distributor for it again. */
  'key.resend': { request: z.strictObject({ to: Id }), reply: Ok },
  'epoch.confirm': { request: z.strictObject({ to: Id, confirmation: Blob(LIMITS.confirmation) }), reply: Ok },
  'lobby.decline': { request: z.strictObject({ participantId: Id }), reply: Ok },
  /** Listeners in joinedSeq order after the cursor `after`; `next` is the cursor of the following page, null at the end. */
  'audience.page': {
    request: z.strictObject({ after: Seq.optional(), limit: z.number().int().min(1).max(LIMITS.audiencePage) }),
    reply: z.object({ members: z.array(ParticipantSnapshot).max(LIMITS.audiencePage), next: Seq.nullable() }),
  },
  /** A sealed reaction, chat message, pin or recording notice, forwarded to every member and stored nowhere. */
  'room.message': { request: z.strictObject({ message: RoomMessageBlob }), reply: Ok },
} as const;

export type RequestType = keyof typeof requests;
export type RequestOf<T extends RequestType> = z.infer<(typeof requests)[T]['request']>;
export type ReplyOf<T extends RequestType> = z.infer<(typeof requests)[T]['reply']>;
export const REQUEST_TYPES = Object.keys(requests) as RequestType[];

// ---- Events: relay to client ----
// The client parses every event with these (protocol/client.ts onEvent) and drops what does not fit: the relay is
// not trusted. Unknown fields are stripped, not refused, so a relay may add fields without breaking older pages.

export const events = {
  'peer.joined': z.object({ participant: ParticipantSnapshot }),
  'peer.updated': z.object({ participant: ParticipantSnapshot }),
  'peer.left': z.object({ participantId: Id, reason: z.enum(['left', 'kicked', 'disconnected']) }),
  /**
   * Every member, once, to a member that just moved onto the stage (or resumed on it in a room too big for its join
   * reply): it may have to distribute keys to any of them. In pages of at most LIMITS.membersPage, sent back to back:
   * page `index` of `of`. A list without `page` is whole.
   */
  'room.members': z.object({
    participants: z.array(ParticipantSnapshot).max(LIMITS.membersPage),
    page: z.object({ index: z.number().int().nonnegative(), of: z.number().int().positive() }).optional(),
  }),
  /** The number of listeners, at most once a second per room (less often above 2,000 members); the last change always follows. */
  'room.audience': z.object({ count: z.number().int().nonnegative() }),
  'producer.added': z.object({ producerId: Id, participantId: Id, streamCertificate: StreamCertificate.optional() }),
  'producer.removed': z.object({ producerId: Id, participantId: Id }),
  /** A commit's header; with `package` when the member has one in it (sent to that member alone). */
  'key.commit': z.object({ from: Id, commit: Commit, epoch: Epoch, package: Package.optional() }),
  /** One member's own package of a commit whose header came before it, sent to it alone. */
  'key.package': z.object({ from: Id, epoch: Epoch, package: Package }),
  'stage.invited': z.object({ by: Id, decision: Decision }),
  /** A stage decision the relay applied, passed on to the room: members act on it only if its signature and authority hold. */
  'stage.decision': z.object({ by: Id, decision: Decision }),
  'epoch.challenge': z.object({ from: Id, nonce: Nonce }),
  'key.resend': z.object({ from: Id }),
  'key.kem': z.object({ from: Id, offer: KemOffer }),
  'epoch.confirm': z.object({ from: Id, confirmation: Blob(LIMITS.confirmation) }),
  'lobby.updated': z.object({ lobby: z.array(LobbyEntry) }),
  'lobby.admitted': JoinResult,
  'lobby.declined': z.object({}),
  'member.kicked': z.object({}),
  'room.updated': z.object({ locked: z.boolean() }),
  'room.ended': z.object({}),
  'room.rotated': z.object({ newRoomId: RoomId }),
  'room.mediaReset': z.object({}),
  'relay.shuttingDown': z.object({}),
  /**
   * `announcement`: the sender's, when it is a listener (members are not told about listeners). It proves itself
   * (the link's MAC and its own signature), so the relay can only attach a wrong one, which the message's signature
   * then refuses.
   */
  'room.message': z.object({ from: Id, message: RoomMessageBlob, announcement: Announcement.optional() }),
  error: z.object({ code: z.string().max(64), message: z.string().max(1_024) }),
} as const;

export type EventType = keyof typeof events;
export type EventOf<T extends EventType> = z.infer<(typeof events)[T]>;

export type Ack<T> = { ok: true; data: T } | { ok: false; error: { code: string; message: string } };
