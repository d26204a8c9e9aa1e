// A bare WebRTC room for the benchmarks to compare against: mediasoup-client pages through the relay's own mediasoup
// worker, with no E2EE, keys, membership or hold; signaling is a Playwright binding (one call, one round trip).
import { fileURLToPath } from 'node:url';
import type { types } from 'mediasoup';
import type { Browser, Page } from 'playwright-core';
import { build } from 'vite';
import { MEDIA_CODECS } from '../server/media/codecs.ts';
import type { Relay } from '../server/index.ts';

let bundle: Promise<string> | null = null;

/** bench/bare/page.ts as one classic script, built once per run. */
function pageScript(): Promise<string> {
  bundle ??= build({
    configFile: false,
    logLevel: 'silent',
    build: { write: false, minify: false, lib: { entry: fileURLToPath(new URL('./bare/page.ts', import.meta.url)), formats: ['iife'], name: 'barePage' } },
  }).then((out) => {
    const [first] = Array.isArray(out) ? out : [out];
    if (!first || !('output' in first)) throw new Error('the bare page did not build');
    return first.output[0].code;
  });
  return bundle;
}

interface BareRequest {
  id: string;
  dtlsParameters: types.DtlsParameters;
  rtpParameters: types.RtpParameters;
  rtpCapabilities: types.RtpCapabilities;
}

export interface BareRoom {
  /** A page with the Device loaded (as Teahouse's join screen has it): `bare.listen()` is the click. `before`: an init script. */
  open(browser: Browser, before?: () => void): Promise<Page>;
  close(): void;
}

/** One router on the relay's first worker; the first page to call `bare.speak()` is the speaker everyone consumes. */
export async function bareRoom(relay: Relay): Promise<BareRoom> {
  const router = await relay.workers()[0]!.createRouter({ mediaCodecs: MEDIA_CODECS });
  let producer: types.Producer | null = null;
  const transports = new Map<string, types.WebRtcTransport>();
  const consumers = new Map<string, types.Consumer>();
  const createTransport = async () => {
    const t = await router.createWebRtcTransport({ listenInfos: [{ protocol: 'udp', ip: '127.0.0.1' }], enableUdp: true });
    transports.set(t.id, t);
    return { id: t.id, iceParameters: t.iceParameters, iceCandidates: t.iceCandidates, dtlsParameters: t.dtlsParameters };
  };
  // Every caller is this benchmark's own page (bench/bare/page.ts): each method reads the fields it sends.
  const signal = async (method: string, data: BareRequest): Promise<unknown> => {
    switch (method) {
      case 'capabilities':
        return router.rtpCapabilities;
      case 'transport':
        return createTransport();
      case 'connect':
        return void (await transports.get(data.id)!.connect({ dtlsParameters: data.dtlsParameters }));
      case 'produce':
        producer = await transports.get(data.id)!.produce({ kind: 'audio', rtpParameters: data.rtpParameters });
        return { id: producer.id };
      case 'listen': {
        const transport = await createTransport();
        const consumer = await transports.get(transport.id)!.consume({ producerId: producer!.id, rtpCapabilities: data.rtpCapabilities, paused: true });
        consumers.set(consumer.id, consumer);
        return { transport, consumer: { id: consumer.id, producerId: producer!.id, rtpParameters: consumer.rtpParameters } };
      }
      case 'resume':
        return void (await consumers.get(data.id)!.resume());
      default:
        throw new Error(`unknown bare signal ${method}`);
    }
  };
  return {
    async open(browser, before) {
      const context = await browser.newContext();
      if (before) await context.addInitScript(before);
      const page = await context.newPage();
      await page.exposeFunction('bareSignal', signal);
      // Loopback HTTP is a secure context (getUserMedia works); the relay never sees this request.
      const url = `${relay.url}/bare-webrtc`;
      await page.route(url, (route) => route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>bare</title>' }));
      await page.goto(url);
      await page.addScriptTag({ content: await pageScript() });
      await page.evaluate(() => (window as unknown as { bare: { load(): Promise<void> } }).bare.load());
      return page;
    },
    close: () => router.close(),
  };
}
