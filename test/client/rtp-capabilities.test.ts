import { describe, expect, it } from 'vitest';
import type { types } from 'mediasoup-client';
import { ALLOWED_HEADER_EXTENSIONS, assertAllowedExtensions, hardenRouterCapabilities, HeaderExtensionError, withAllowedExtensions } from '../../client/src/media/rtp-capabilities.ts';

const MID = 'urn:ietf:params:rtp-hdrext:sdes:mid';
const ABS_SEND_TIME = 'http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time';
const TWCC = 'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01';
const SSRC_AUDIO_LEVEL = 'urn:ietf:params:rtp-hdrext:ssrc-audio-level';
const CSRC_AUDIO_LEVEL = 'urn:ietf:params:rtp-hdrext:csrc-audio-level';
const UNKNOWN = 'urn:example:loudness-in-clear';

function ext(uri: string, preferredId: number): types.RtpHeaderExtension {
  return { kind: 'audio', uri: uri as types.RtpHeaderExtensionUri, preferredId, direction: 'sendrecv' };
}

/** What a relay that wants to learn who speaks would offer: audio levels in clear, DTX on, a variable bitrate. */
const HOSTILE: types.RtpCapabilities = {
  codecs: [
    { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2, preferredPayloadType: 100, parameters: { usedtx: 1, cbr: 0, useinbandfec: 1 } },
    { kind: 'video', mimeType: 'video/VP8', clockRate: 90000, preferredPayloadType: 101, parameters: {} },
  ],
  headerExtensions: [ext(MID, 1), ext(SSRC_AUDIO_LEVEL, 10), ext(ABS_SEND_TIME, 4), ext(CSRC_AUDIO_LEVEL, 11), ext(TWCC, 5), ext(UNKNOWN, 12)],
};

describe('RTP capabilities taken from the relay', () => {
  it('keeps only the transport header extensions, dropping audio levels and anything unknown', () => {
    const hardened = hardenRouterCapabilities(HOSTILE);
    expect(hardened.headerExtensions!.map((e) => e.uri)).toEqual([MID, ABS_SEND_TIME, TWCC]);
    expect([...ALLOWED_HEADER_EXTENSIONS].sort()).toEqual([ABS_SEND_TIME, TWCC, MID].sort());
  });

  it('asks for Opus in constant bitrate without DTX, keeping its other parameters and the other codecs', () => {
    const [opus, vp8] = hardenRouterCapabilities(HOSTILE).codecs!;
    expect(opus!.parameters).toEqual({ usedtx: 0, cbr: 1, useinbandfec: 1 });
    expect(vp8).toEqual(HOSTILE.codecs![1]);
    // The relay's own object is not modified.
    expect(HOSTILE.codecs![0]!.parameters).toEqual({ usedtx: 1, cbr: 0, useinbandfec: 1 });
  });

  it('copes with capabilities missing their lists', () => {
    expect(hardenRouterCapabilities({})).toEqual({ codecs: [], headerExtensions: [] });
  });

  it('refuses to send parameters naming an extension off the list, and cuts the ones handed to a consumer', () => {
    const params: types.RtpParameters = {
      codecs: [{ mimeType: 'audio/opus', payloadType: 100, clockRate: 48000, channels: 2 }],
      headerExtensions: [
        { uri: MID, id: 1 },
        { uri: SSRC_AUDIO_LEVEL as types.RtpHeaderExtensionUri, id: 10 },
      ],
    };
    expect(() => assertAllowedExtensions(params)).toThrow(HeaderExtensionError);
    expect(() => assertAllowedExtensions(params)).toThrow(/ssrc-audio-level/);
    const cut = withAllowedExtensions(params);
    expect(cut.headerExtensions).toEqual([{ uri: MID, id: 1 }]);
    expect(() => assertAllowedExtensions(cut)).not.toThrow();
  });
});
