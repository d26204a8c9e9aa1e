// What this client takes of the relay's RTP capabilities: only header extensions that say nothing about the audio, and
// Opus in constant bitrate without DTX, so neither RTP headers nor packet sizes tell the relay when someone speaks.
import type { types } from 'mediasoup-client';

/**
 * Header extensions that carry transport data only. Everything else is refused, known or not: ssrc-audio-level and
 * csrc-audio-level would put each packet's loudness in clear next to the encrypted payload.
 */
export const ALLOWED_HEADER_EXTENSIONS: ReadonlySet<string> = new Set([
  'urn:ietf:params:rtp-hdrext:sdes:mid',
  'http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
  'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
]);

/** Opus target bitrate in constant-bitrate mode: every 20 ms frame is OPUS_BITRATE / 400 bytes (80 at 32 kbit/s). */
export const OPUS_BITRATE = 32_000;

/** The producer's rtpParameters name a header extension outside the allow-list: the microphone must not send. */
export class HeaderExtensionError extends Error {
  readonly uri: string;

  constructor(uri: string) {
    super(`refusing to send RTP header extension ${uri}`);
    this.name = 'HeaderExtensionError';
    this.uri = uri;
  }
}

function isOpus(mimeType: string): boolean {
  return mimeType.toLowerCase() === 'audio/opus';
}

/**
 * The router capabilities to load the device with: header extensions cut to the allow-list and Opus asked for
 * constant bitrate without DTX, whatever the relay offered. The answer SDP takes its Opus fmtp from here.
 */
export function hardenRouterCapabilities(caps: types.RtpCapabilities): types.RtpCapabilities {
  return {
    codecs: (caps.codecs ?? []).map((codec) => (isOpus(codec.mimeType) ? { ...codec, parameters: { ...codec.parameters, cbr: 1, usedtx: 0 } } : codec)),
    headerExtensions: (caps.headerExtensions ?? []).filter((ext) => ALLOWED_HEADER_EXTENSIONS.has(ext.uri)),
  };
}

/** The same cut for parameters the relay hands us (a consumer's): extensions off the allow-list are not negotiated. */
export function withAllowedExtensions(parameters: types.RtpParameters): types.RtpParameters {
  return { ...parameters, headerExtensions: (parameters.headerExtensions ?? []).filter((ext) => ALLOWED_HEADER_EXTENSIONS.has(ext.uri)) };
}

/** Throws HeaderExtensionError when the parameters of what we are about to send name an extension off the list. */
export function assertAllowedExtensions(parameters: types.RtpParameters): void {
  for (const ext of parameters.headerExtensions ?? []) if (!ALLOWED_HEADER_EXTENSIONS.has(ext.uri)) throw new HeaderExtensionError(ext.uri);
}

/** Producer codec options: constant bitrate comes from the hardened capabilities; these fix the rest of Opus. */
export const OPUS_CODEC_OPTIONS: types.ProducerCodecOptions = {
  // DTX off: silence would become short packets and gaps, and mediasoup would read the (encrypted) first byte for DTX.
  opusDtx: false,
  opusFec: true,
  opusStereo: false,
  opusMaxAverageBitrate: OPUS_BITRATE,
  opusPtime: 20,
};
