// The bare WebRTC page the benchmarks hold Teahouse against: mediasoup-client through the same relay, no E2EE, no keys.
import { Device, type types } from 'mediasoup-client';
import { peakFrequency } from '../../client/src/media/speaking.ts';

/** The benchmark's side of signaling, bound into the page with Playwright's exposeFunction: one call, one round trip. */
declare function bareSignal<T = void>(method: string, data: unknown): Promise<T>;

interface TransportReply {
  id: string;
  iceParameters: types.IceParameters;
  iceCandidates: types.IceCandidate[];
  dtlsParameters: types.DtlsParameters;
}

const device = new Device();
let analyser: AnalyserNode | null = null;

async function transport(direction: 'send' | 'recv', reply: TransportReply): Promise<types.Transport> {
  const options = { id: reply.id, iceParameters: reply.iceParameters, iceCandidates: reply.iceCandidates, dtlsParameters: reply.dtlsParameters };
  const t = direction === 'send' ? device.createSendTransport(options) : device.createRecvTransport(options);
  t.on('connect', ({ dtlsParameters }, done, fail) => void bareSignal('connect', { id: t.id, dtlsParameters }).then(done, fail));
  t.on('produce', ({ rtpParameters }, done, fail) => void bareSignal<{ id: string }>('produce', { id: t.id, rtpParameters }).then(done, fail));
  return t;
}

(window as unknown as { bare: unknown }).bare = {
  /** What a page does while its join screen waits: the Device knows the router before the click. */
  async load(): Promise<void> {
    await device.load({ routerRtpCapabilities: await bareSignal<types.RtpCapabilities>('capabilities', null) });
  },
  async speak(): Promise<void> {
    const track = (await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 } })).getAudioTracks()[0]!;
    const send = await transport('send', await bareSignal<TransportReply>('transport', null));
    await send.produce({ track });
  },
  /** The click: one request brings the receive transport and the consumer, then the consumer plays. */
  async listen(): Promise<void> {
    const reply = await bareSignal<{ transport: TransportReply; consumer: { id: string; producerId: string; rtpParameters: types.RtpParameters } }>('listen', {
      rtpCapabilities: device.recvRtpCapabilities,
    });
    const recv = await transport('recv', reply.transport);
    const consumer = await recv.consume({ id: reply.consumer.id, producerId: reply.consumer.producerId, kind: 'audio', rtpParameters: reply.consumer.rtpParameters });
    void bareSignal('resume', { id: consumer.id });
    const stream = new MediaStream([consumer.track]);
    const element = new Audio();
    element.srcObject = stream;
    void element.play().catch(() => undefined);
    const context = new AudioContext();
    analyser = context.createAnalyser();
    analyser.fftSize = 8192;
    context.createMediaStreamSource(stream).connect(analyser);
  },
  /** The loudest frequency heard, as Teahouse's own spectrumPeak reports it. */
  spectrumPeak(): { hz: number; db: number } | null {
    if (!analyser) return null;
    const bins = new Float32Array(analyser.frequencyBinCount);
    analyser.getFloatFrequencyData(bins);
    return peakFrequency(bins, analyser.context.sampleRate, analyser.fftSize);
  },
};
