// The router's media codecs: Opus only. No audio-level header extension is offered (it would leak who speaks in clear).
import type { types } from 'mediasoup';

export const MEDIA_CODECS: types.RouterRtpCodecCapability[] = [{ kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2, parameters: { usedtx: 0, useinbandfec: 1 } }];

export const FORBIDDEN_HEADER_EXTENSION = 'urn:ietf:params:rtp-hdrext:ssrc-audio-level';

/** The capabilities clients load, minus the audio-level extension, so no browser ever negotiates it. */
export function clientRtpCapabilities(router: types.Router): types.RtpCapabilities {
  const caps = router.rtpCapabilities;
  return { ...caps, headerExtensions: (caps.headerExtensions ?? []).filter((e) => e.uri !== FORBIDDEN_HEADER_EXTENSION) };
}
