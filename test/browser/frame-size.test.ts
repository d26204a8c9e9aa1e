import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeHeader } from '../../crypto/index.ts';
import type { Relay } from '../../server/index.ts';
import { ALLOWED_HEADER_EXTENSIONS, OPUS_BITRATE } from '../../client/src/media/rtp-capabilities.ts';
import { startTestRelay } from '../helpers/relay.ts';
import { tapRoom } from '../helpers/tap.ts';
import { burstWav, launchChromium } from './chromium.ts';
import { createRoom, expectHears, joinRoom, myId, roomIdOf } from './pages.ts';

// One second of a 440 Hz tone, one second of digital silence: talk and pauses, as a relay would like to tell apart.
const ON_MS = 1_000;
const OFF_MS = 1_000;
// Five seconds of 20 ms frames: at least two talk spells and two pauses, whatever the phase.
const FRAMES = 250;

let relay: Relay;
let browser: Browser;
const sent: { event: string; payload: unknown }[] = [];

beforeAll(async () => {
  relay = await startTestRelay({ onClientMessage: (event, payload) => sent.push({ event, payload }) });
  browser = await launchChromium({ wav: burstWav(440, ON_MS, OFF_MS) });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await relay?.close();
});

const AUDIO_LEVEL = 'urn:ietf:params:rtp-hdrext:ssrc-audio-level';

/**
 * A hostile relay, played between the page and the honest one: every routerRtpCapabilities the page receives offers
 * the audio-level extensions and an unknown one, and asks Opus for DTX. Returns how many messages it rewrote.
 */
function hostileCapabilities(rewritten: { count: number }) {
  const offer = (caps: { codecs: { mimeType: string; parameters: Record<string, unknown> }[]; headerExtensions: unknown[] }) => {
    for (const codec of caps.codecs) if (codec.mimeType.toLowerCase() === 'audio/opus') codec.parameters = { ...codec.parameters, usedtx: 1 };
    caps.headerExtensions.push(
      { kind: 'audio', uri: AUDIO_LEVEL, preferredId: 10, preferredEncrypt: false, direction: 'sendrecv' },
      { kind: 'audio', uri: 'urn:ietf:params:rtp-hdrext:csrc-audio-level', preferredId: 15, preferredEncrypt: false, direction: 'sendrecv' },
      { kind: 'audio', uri: 'urn:example:loudness', preferredId: 16, preferredEncrypt: false, direction: 'sendrecv' },
    );
    rewritten.count++;
  };
  const visit = (value: unknown): void => {
    if (typeof value !== 'object' || value === null) return;
    for (const [key, inner] of Object.entries(value)) {
      if (key === 'routerRtpCapabilities') offer(inner as Parameters<typeof offer>[0]);
      else visit(inner);
    }
  };
  return async (context: BrowserContext) => {
    await context.routeWebSocket(/socket\.io/, (ws) => {
      const server = ws.connectToServer();
      ws.onMessage((message) => server.send(message));
      server.onMessage((message) => {
        // socket.io frames are a digit prefix and a JSON array.
        const start = typeof message === 'string' ? message.indexOf('[') : -1;
        if (typeof message !== 'string' || start < 0 || !message.includes('routerRtpCapabilities')) return ws.send(message);
        const body: unknown = JSON.parse(message.slice(start));
        visit(body);
        ws.send(message.slice(0, start) + JSON.stringify(body));
      });
    });
  };
}

/**
 * The control: the same microphone through libopus in variable bitrate at the same target (WebCodecs' AudioEncoder,
 * 20 ms frames), with no network at all. Returns the size of each encoded frame.
 */
async function variableBitrateFrameSizes(page: Page, frames: number, bitrate: number): Promise<number[]> {
  return page.evaluate(
    async ({ count, bps }) => {
      type Processor = new (init: { track: MediaStreamTrack }) => { readable: ReadableStream<AudioData> };
      const { MediaStreamTrackProcessor } = window as unknown as { MediaStreamTrackProcessor: Processor };
      const stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 } });
      const reader = new MediaStreamTrackProcessor({ track: stream.getAudioTracks()[0]! }).readable.getReader();
      const sizes: number[] = [];
      let failure: unknown = null;
      const encoder = new AudioEncoder({ output: (chunk) => sizes.push(chunk.byteLength), error: (e) => (failure = e) });
      while (sizes.length < count && failure === null) {
        const { value } = await reader.read();
        if (!value) break;
        if (encoder.state === 'unconfigured') {
          encoder.configure({ codec: 'opus', sampleRate: value.sampleRate, numberOfChannels: value.numberOfChannels, bitrate: bps, bitrateMode: 'variable' });
        }
        encoder.encode(value);
        value.close();
      }
      encoder.close();
      for (const track of stream.getTracks()) track.stop();
      if (failure !== null) throw failure;
      return sizes.slice(0, count);
    },
    { count: frames, bps: bitrate },
  );
}

describe('what packet sizes tell the relay', () => {
  it('SFrame payloads keep one size through talk and silence, no audio level goes in clear, and the listener hears the tone', async () => {
    const rewritten = { count: 0 };
    const { page: host, link } = await createRoom(browser, relay.url, 'Quiet', 'Host', { context: hostileCapabilities(rewritten) });
    const listener = await joinRoom(browser, link, 'Listener');
    await expectHears(listener, await myId(host), 440);
    const roomId = await roomIdOf(host);
    expect(rewritten.count).toBeGreaterThan(0);

    // What the host asked to send (before the honest relay's own filter), and what the relay then produced.
    const produced = sent.filter((m) => m.event === 'producer.create').map((m) => (m.payload as { rtpParameters: { headerExtensions: { uri: string }[] } }).rtpParameters);
    expect(produced).toHaveLength(1);
    const room = relay.rooms.get(roomId)!;
    const producers = [...room.members.values()].flatMap((m) => [...m.producers.values()]);
    expect(producers).toHaveLength(1);
    for (const uris of [produced[0]!.headerExtensions.map((e) => e.uri), producers[0]!.rtpParameters.headerExtensions!.map((e) => e.uri)]) {
      expect(uris.length).toBeGreaterThan(0);
      for (const uri of uris) expect(ALLOWED_HEADER_EXTENSIONS.has(uri)).toBe(true);
    }

    const tap = await tapRoom(relay, roomId);
    await expect.poll(() => tap.payloads.length, { timeout: 20_000 }).toBeGreaterThanOrEqual(FRAMES);
    tap.close();
    const payloads = tap.payloads.slice(0, FRAMES);
    // The SFrame header grows only with the KID and the frame counter (public, and not about the audio); what follows
    // it, the Opus frame and the tag, is what would follow speech.
    const bodies = new Set(payloads.map((p) => p.length - decodeHeader(p).length));
    expect([...bodies]).toHaveLength(1);
    const headers = new Set(payloads.map((p) => decodeHeader(p).length));
    expect(headers.size).toBeLessThanOrEqual(2);

    const controlPage = await (await browser.newContext()).newPage();
    await controlPage.goto(relay.url);
    const control = await variableBitrateFrameSizes(controlPage, FRAMES, OPUS_BITRATE);
    // The microphone does make a variable-bitrate encoder vary: without CBR the sizes would give the pauses away.
    expect(new Set(control).size).toBeGreaterThan(5);

    const body = [...bodies][0]!;
    const meanHeader = payloads.reduce((sum, p) => sum + decodeHeader(p).length, 0) / payloads.length;
    const meanVbr = control.reduce((a, b) => a + b, 0) / control.length;
    console.log(
      `frame sizes: CBR+SFrame ${body} B body + ${meanHeader.toFixed(2)} B header = ${(((body + meanHeader) * 8 * 50) / 1000).toFixed(1)} kbit/s; ` +
        `libopus VBR at the same target, mean ${meanVbr.toFixed(1)} B (${((meanVbr * 8 * 50) / 1000).toFixed(1)} kbit/s), min ${Math.min(...control)}, max ${Math.max(...control)}`,
    );
    await expectHears(listener, await myId(host), 440);
    await controlPage.close();
    await listener.close();
    await host.close();
  }, 120_000);
});
