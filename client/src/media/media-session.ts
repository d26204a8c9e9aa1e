// mediasoup-client plumbing: one send and one receive transport, the microphone producer, remote consumers.
import { Device, type types } from 'mediasoup-client';
import { fromBase64url } from '../../../crypto/bytes.ts';
import { markJoin } from './join-timeline.ts';
import { E2eeChannel } from './e2ee.ts';
import type { TransportState } from './media-health.ts';
import { assertAllowedExtensions, hardenRouterCapabilities, OPUS_CODEC_OPTIONS, withAllowedExtensions } from './rtp-capabilities.ts';

/** The signaling requests this layer needs; RoomSession supplies them over the relay connection. */
export interface MediaSignaling {
  createTransport(direction: 'send' | 'recv'): Promise<{
    transportId: string;
    iceParameters: types.IceParameters;
    iceCandidates: types.IceCandidate[];
    dtlsParameters: types.DtlsParameters;
  }>;
  connectTransport(transportId: string, dtlsParameters: types.DtlsParameters): Promise<void>;
  produce(transportId: string, rtpParameters: types.RtpParameters): Promise<string>;
  consume(
    producerId: string,
    rtpCapabilities: types.RtpCapabilities,
  ): Promise<{
    consumerId: string;
    producerId: string;
    rtpParameters: types.RtpParameters;
    /** The producer's stream certificate as the relay gave it (base64url), if it did. */
    streamCertificate?: string;
  }>;
  resumeConsumer(consumerId: string): Promise<void>;
  restartIce(transportId: string): Promise<types.IceParameters>;
  /** TURN servers with fresh credentials for this member (none when the relay has no TURN server). */
  iceServers(): Promise<RTCIceServer[]>;
}

type TransportInfo = Awaited<ReturnType<MediaSignaling['createTransport']>>;
type ConsumerInfo = Awaited<ReturnType<MediaSignaling['consume']>>;

/** The receive side the relay made with the join (room.join's `receive`). */
export interface PreparedReceive {
  transport: TransportInfo;
  iceServers: RTCIceServer[];
  consumers: (ConsumerInfo & { participantId: string })[];
}

/**
 * How long a transport may try to connect before the member is told the network blocks it: ICE over UDP, TCP and
 * TURN all settle in a few seconds on any network that lets one of them through.
 */
const CONNECT_WATCHDOG_MS = 15_000;

export class MediaSession {
  private readonly device = new Device();
  private loading: Promise<void> | null = null;
  private sendTransport: Promise<types.Transport> | null = null;
  private recvTransport: Promise<types.Transport> | null = null;
  private receiveStarted!: () => void;
  /**
   * Settles when a receive transport first asks to connect, its first consumer set up in the browser: ICE and DTLS then
   * run without the page's main thread.
   */
  readonly receiving = new Promise<void>((resolve) => (this.receiveStarted = resolve));
  private producer: types.Producer | null = null;
  private readonly consumers = new Map<string, types.Consumer>();

  /** Transports that failed to connect (or have not within the watchdog), by id. */
  private readonly blocked = new Set<string>();

  private readonly signaling: MediaSignaling;
  private readonly e2ee: E2eeChannel;
  private readonly onBlocked: (blocked: boolean) => void;
  private readonly onTransportState: (direction: 'send' | 'recv', state: TransportState) => void;

  /**
   * `onBlocked(true)`: no candidate pair of some transport works, so no audio passes; false once all connect.
   * `onTransportState` hears every transport's connection state, 'closed' included when we drop one.
   */
  constructor(signaling: MediaSignaling, e2ee: E2eeChannel, callbacks: { onBlocked?: (blocked: boolean) => void; onTransportState?: (direction: 'send' | 'recv', state: TransportState) => void } = {}) {
    this.signaling = signaling;
    this.e2ee = e2ee;
    this.onBlocked = callbacks.onBlocked ?? (() => undefined);
    this.onTransportState = callbacks.onTransportState ?? (() => undefined);
  }

  /**
   * The relay's capabilities pass through hardenRouterCapabilities first: what it offers beyond them is ignored. Loaded
   * once (the join screen may have started it): a failed load is tried again by the next caller.
   */
  load(routerRtpCapabilities: types.RtpCapabilities): Promise<void> {
    this.loading ??= this.device.load({ routerRtpCapabilities: hardenRouterCapabilities(routerRtpCapabilities) }).then(
      () => markJoin('device-loaded'),
      (error: unknown) => {
        this.loading = null;
        throw error;
      },
    );
    return this.loading;
  }

  private async loaded(): Promise<void> {
    if (!this.loading) throw new Error('the mediasoup Device was not loaded');
    await this.loading;
  }

  get producerId(): string | null {
    return this.producer?.id ?? null;
  }

  /** Our microphone producer exists and is not paused: its frames should be leaving. */
  get sending(): boolean {
    return this.producer !== null && !this.producer.closed && !this.producer.paused;
  }

  /** The participants whose audio we consume now. */
  consumedParticipants(): string[] {
    return [...this.consumers.values()].filter((c) => !c.closed).map((c) => (c.appData as { participantId: string }).participantId);
  }

  /** The Device's receive capabilities once loaded (for room.join's `receive`); null before. */
  recvCapabilities(): types.RtpCapabilities | null {
    return this.device.loaded ? this.device.recvRtpCapabilities : null;
  }

  /**
   * Consumes a remote producer; frames reach the page only through the decrypting receive transform. A producer
   * asked for twice (in the join reply and in the room's list, or by a producer.added) is consumed once.
   */
  consume(producerId: string, participantId: string): Promise<MediaStreamTrack> {
    const consumed = this.consumers.get(producerId);
    if (consumed && !consumed.closed) return Promise.resolve(consumed.track);
    const pending = this.consuming.get(producerId) ?? this.consumeOnce(producerId, participantId);
    this.consuming.set(producerId, pending);
    const forget = () => {
      if (this.consuming.get(producerId) === pending) this.consuming.delete(producerId);
    };
    pending.then(forget, forget);
    return pending;
  }

  private readonly consuming = new Map<string, Promise<MediaStreamTrack>>();

  /** Consumers the relay made with the join reply, by producer id, not yet taken up. */
  private readonly prepared = new Map<string, ConsumerInfo>();

  private async consumeOnce(producerId: string, participantId: string): Promise<MediaStreamTrack> {
    const transport = await this.transport('recv');
    const ready = this.prepared.get(producerId);
    this.prepared.delete(producerId);
    const info = ready ?? (await this.signaling.consume(producerId, this.device.recvRtpCapabilities));
    // Resumed at once rather than after the local set-up: nothing flows before this transport's DTLS is up anyway,
    // and the request's round trip then overlaps ICE instead of following it.
    const resumed = this.signaling.resumeConsumer(info.consumerId);
    resumed.catch(() => undefined);
    const consumer = await transport.consume({
      id: info.consumerId,
      producerId: info.producerId,
      kind: 'audio',
      rtpParameters: withAllowedExtensions(info.rtpParameters),
      appData: { participantId },
      onRtpReceiver: (receiver) => this.e2ee.attachReceiver(receiver, participantId, info.streamCertificate ? fromBase64url(info.streamCertificate) : null),
    });
    this.consumers.set(producerId, consumer);
    consumer.on('transportclose', () => this.consumers.delete(producerId));
    await resumed;
    markJoin('consumer-created');
    return consumer.track;
  }

  /**
   * Starts making the receive transport now (on joining), so that the first consume finds it ready; from what the
   * join reply carries when it has it (no request at all), with the consumers it made.
   */
  prepareReceive(prepared?: PreparedReceive): void {
    if (prepared && !this.recvTransport) {
      for (const c of prepared.consumers) this.prepared.set(c.producerId, c);
      // Built in this same task when the Device is loaded (the usual case): the consumes that follow find it at once.
      const pending = this.device.loaded
        ? new Promise<types.Transport>((resolve) => resolve(this.buildTransport('recv', prepared.transport, prepared.iceServers)))
        : this.loaded().then(() => this.buildTransport('recv', prepared.transport, prepared.iceServers));
      this.recvTransport = pending;
      pending.catch(() => {
        if (this.recvTransport === pending) this.recvTransport = null;
      });
    }
    this.transport('recv').catch(() => undefined);
  }

  closeConsumer(producerId: string): void {
    this.consumers.get(producerId)?.close();
    this.consumers.delete(producerId);
  }

  /** Starts the microphone; the encrypting transform is attached before the first frame can leave. */
  async startMic(): Promise<void> {
    if (this.producer) return;
    const track = await this.microphone();
    track.enabled = this.talking;
    const transport = await this.transport('send');
    try {
      this.producer = await transport.produce({
        track,
        codecOptions: OPUS_CODEC_OPTIONS,
        stopTracks: true,
        onRtpSender: (sender) => this.e2ee.attachSender(sender),
      });
    } catch (error) {
      track.stop();
      throw error;
    }
  }

  /**
   * The browser's own noise suppression, echo cancellation and gain control: on by default, off for music. A running
   * microphone gets a new track with the new constraints, so the producer (and what the relay sees) stays as it was.
   */
  async setProcessing(on: boolean): Promise<void> {
    this.processing = on;
    const producer = this.producer;
    if (!producer) return;
    const track = await this.microphone();
    track.enabled = this.talking;
    await producer.replaceTrack({ track });
  }

  /**
   * Push-to-talk: a released key disables the track, so the encoder sends silence in frames of the same size and
   * rate (CBR, DTX off); the producer is never paused, so the relay cannot tell talking from not talking.
   */
  setTalking(on: boolean): void {
    this.talking = on;
    const track = this.producer?.track;
    if (track) track.enabled = on;
  }

  /** The microphone's current track, for the host's own voice in a recording. */
  micTrack(): MediaStreamTrack | null {
    return this.producer?.track ?? null;
  }

  private processing = true;
  private talking = true;

  private async microphone(): Promise<MediaStreamTrack> {
    const on = this.processing;
    const stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: on, noiseSuppression: on, autoGainControl: on, channelCount: 1 } });
    return stream.getAudioTracks()[0]!;
  }

  stopMic(): void {
    this.producer?.close();
    this.producer = null;
  }

  setMicPaused(paused: boolean): void {
    if (!this.producer) return;
    if (paused) this.producer.pause();
    else this.producer.resume();
  }

  /** New ICE credentials on both sides, and fresh TURN credentials: the old ones may have expired meanwhile. */
  async restartIce(): Promise<void> {
    for (const pending of [this.sendTransport, this.recvTransport]) {
      const transport = await pending?.catch(() => null);
      if (transport && !transport.closed) await this.restartTransport(transport);
    }
  }

  private async restartTransport(transport: types.Transport): Promise<void> {
    // Fresh TURN credentials when the relay has a TURN server; a browser that cannot swap ICE servers on a live
    // connection (Firefox refuses some changes) still restarts ICE with what it has.
    const iceServers = await this.signaling.iceServers().catch(() => []);
    if (transport.closed) return;
    if (iceServers.length > 0) await transport.updateIceServers({ iceServers }).catch(() => undefined);
    await transport.restartIce({ iceParameters: await this.signaling.restartIce(transport.id) });
  }

  private setBlocked(transportId: string, blocked: boolean): void {
    const before = this.blocked.size > 0;
    if (blocked) this.blocked.add(transportId);
    else this.blocked.delete(transportId);
    if (before !== this.blocked.size > 0) this.onBlocked(this.blocked.size > 0);
  }

  /** After the relay re-created our transports (worker restart), drop the old ones; the next use makes new ones. */
  resetTransports(): void {
    this.producer?.close();
    this.producer = null;
    for (const consumer of this.consumers.values()) consumer.close();
    this.consumers.clear();
    this.prepared.clear();
    this.consuming.clear();
    for (const pending of [this.sendTransport, this.recvTransport])
      void pending?.then(
        (t) => t.close(),
        () => undefined,
      );
    this.sendTransport = null;
    this.recvTransport = null;
    for (const id of [...this.blocked]) this.setBlocked(id, false);
    this.onTransportState('send', 'closed');
    this.onTransportState('recv', 'closed');
  }

  close(): void {
    this.resetTransports();
  }

  /** One transport per direction; concurrent callers share the pending creation. */
  private transport(direction: 'send' | 'recv'): Promise<types.Transport> {
    const key = direction === 'send' ? 'sendTransport' : 'recvTransport';
    const pending = this[key] ?? this.createTransport(direction);
    this[key] = pending;
    pending.catch(() => {
      if (this[key] === pending) this[key] = null;
    });
    return pending;
  }

  private async createTransport(direction: 'send' | 'recv'): Promise<types.Transport> {
    // The requests go out at once; the Device (loaded from the join screen or the join reply) is needed only after.
    const [info, iceServers] = await Promise.all([this.signaling.createTransport(direction), this.signaling.iceServers(), this.loaded()]);
    return this.buildTransport(direction, info, iceServers);
  }

  private buildTransport(direction: 'send' | 'recv', info: TransportInfo, iceServers: RTCIceServer[]): types.Transport {
    const options = {
      id: info.transportId,
      iceParameters: info.iceParameters,
      iceCandidates: info.iceCandidates,
      dtlsParameters: info.dtlsParameters,
      // The relay's own candidates (UDP, then ICE over TCP) come first; TURN is for networks that allow neither.
      iceServers,
      additionalSettings: E2eeChannel.peerConnectionSettings(),
    };
    const transport = direction === 'send' ? this.device.createSendTransport(options) : this.device.createRecvTransport(options);
    if (direction === 'recv') {
      markJoin('recv-transport-created');
      transport.on('connectionstatechange', (state) => state === 'connected' && markJoin('recv-connected'));
    }
    this.onTransportState(direction, 'new');
    transport.on('connectionstatechange', (state) => this.onTransportState(direction, state));
    let watchdog: ReturnType<typeof setTimeout> | null = null;
    let retried = false;
    const stopWatchdog = () => {
      if (watchdog) clearTimeout(watchdog);
      watchdog = null;
    };
    transport.on('connect', ({ dtlsParameters }, done) => {
      watchdog = setTimeout(() => {
        if (!transport.closed) this.setBlocked(transport.id, true);
      }, CONNECT_WATCHDOG_MS);
      // Told done at once: the browser then starts ICE while the request travels, and the relay has its DTLS
      // parameters long before the handshake's first flight (one ICE round trip later). A refusal means no media.
      this.signaling.connectTransport(transport.id, dtlsParameters).catch(() => {
        if (!transport.closed) this.setBlocked(transport.id, true);
      });
      done();
      if (direction === 'recv') this.receiveStarted();
    });
    transport.on('connectionstatechange', (state) => {
      if (state === 'connected') {
        stopWatchdog();
        retried = false;
        this.setBlocked(transport.id, false);
      } else if (state === 'failed' && !transport.closed) {
        stopWatchdog();
        this.setBlocked(transport.id, true);
        // One more try with fresh TURN credentials (they may have expired); the member sees the message meanwhile.
        if (!retried) {
          retried = true;
          void this.restartTransport(transport).catch(() => undefined);
        }
      } else if (state === 'closed') {
        stopWatchdog();
        this.setBlocked(transport.id, false);
      }
    });
    if (direction === 'send') {
      transport.on('produce', ({ rtpParameters }, done, fail) => {
        try {
          assertAllowedExtensions(rtpParameters);
        } catch (error) {
          fail(error as Error);
          return;
        }
        this.signaling.produce(transport.id, rtpParameters).then((id) => done({ id }), fail);
      });
    }
    return transport;
  }
}
