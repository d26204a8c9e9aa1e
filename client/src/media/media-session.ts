// mediasoup-client plumbing: one send and one receive transport, the microphone producer, remote consumers.
import { Device, type types } from 'mediasoup-client';
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
  consume(producerId: string, rtpCapabilities: types.RtpCapabilities): Promise<{
    consumerId: string;
    producerId: string;
    rtpParameters: types.RtpParameters;
  }>;
  resumeConsumer(consumerId: string): Promise<void>;
  restartIce(transportId: string): Promise<types.IceParameters>;
}

export class MediaSession {
  private readonly device = new Device();
  private sendTransport: Promise<types.Transport> | null = null;
  private recvTransport: Promise<types.Transport> | null = null;
  private producer: types.Producer | null = null;
  private readonly consumers = new Map<string, types.Consumer>();

  private readonly signaling: MediaSignaling;
  private readonly e2ee: E2eeChannel;
  private readonly onTransportState: (direction: 'send' | 'recv', state: TransportState) => void;

  /** `onTransportState` hears every transport's connection state, 'closed' included when we drop one. */
  constructor(signaling: MediaSignaling, e2ee: E2eeChannel, onTransportState: (direction: 'send' | 'recv', state: TransportState) => void = () => undefined) {
    this.signaling = signaling;
    this.e2ee = e2ee;
    this.onTransportState = onTransportState;
  }

  /** The relay's capabilities pass through hardenRouterCapabilities first: what it offers beyond them is ignored. */
  async load(routerRtpCapabilities: types.RtpCapabilities): Promise<void> {
    if (!this.device.loaded) await this.device.load({ routerRtpCapabilities: hardenRouterCapabilities(routerRtpCapabilities) });
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

  /** Consumes a remote producer; frames reach the page only through the decrypting receive transform. */
  async consume(producerId: string, participantId: string): Promise<MediaStreamTrack> {
    const transport = await this.transport('recv');
    const info = await this.signaling.consume(producerId, this.device.recvRtpCapabilities);
    const consumer = await transport.consume({
      id: info.consumerId,
      producerId: info.producerId,
      kind: 'audio',
      rtpParameters: withAllowedExtensions(info.rtpParameters),
      appData: { participantId },
      onRtpReceiver: (receiver) => this.e2ee.attachReceiver(receiver, participantId),
    });
    this.consumers.set(producerId, consumer);
    consumer.on('transportclose', () => this.consumers.delete(producerId));
    await this.signaling.resumeConsumer(info.consumerId);
    return consumer.track;
  }

  closeConsumer(producerId: string): void {
    this.consumers.get(producerId)?.close();
    this.consumers.delete(producerId);
  }

  /** Starts the microphone; the encrypting transform is attached before the first frame can leave. */
  async startMic(): Promise<void> {
    if (this.producer) return;
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
    });
    const track = stream.getAudioTracks()[0]!;
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

  stopMic(): void {
    this.producer?.close();
    this.producer = null;
  }

  setMicPaused(paused: boolean): void {
    if (!this.producer) return;
    if (paused) this.producer.pause();
    else this.producer.resume();
  }

  async restartIce(): Promise<void> {
    for (const pending of [this.sendTransport, this.recvTransport]) {
      const transport = await pending?.catch(() => null);
      if (transport && !transport.closed) await transport.restartIce({ iceParameters: await this.signaling.restartIce(transport.id) });
    }
  }

  /** After the relay re-created our transports (worker restart), drop the old ones; the next use makes new ones. */
  resetTransports(): void {
    this.producer?.close();
    this.producer = null;
    for (const consumer of this.consumers.values()) consumer.close();
    this.consumers.clear();
    for (const pending of [this.sendTransport, this.recvTransport]) void pending?.then((t) => t.close(), () => undefined);
    this.sendTransport = null;
    this.recvTransport = null;
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
    const info = await this.signaling.createTransport(direction);
    const options = {
      id: info.transportId,
      iceParameters: info.iceParameters,
      iceCandidates: info.iceCandidates,
      dtlsParameters: info.dtlsParameters,
      additionalSettings: E2eeChannel.peerConnectionSettings(),
    };
    const transport = direction === 'send' ? this.device.createSendTransport(options) : this.device.createRecvTransport(options);
    this.onTransportState(direction, 'new');
    transport.on('connectionstatechange', (state) => this.onTransportState(direction, state));
    transport.on('connect', ({ dtlsParameters }, done, fail) => {
      this.signaling.connectTransport(transport.id, dtlsParameters).then(done, fail);
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
