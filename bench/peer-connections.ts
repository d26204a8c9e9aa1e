// An init script for benchmark pages: every RTCPeerConnection the page makes, kept where the benchmark can read its tracks and stats.

/** Runs in the page, before its scripts (page.addInitScript, or bare-webrtc.ts's open). */
export function recordPeerConnections(): void {
  const Native = RTCPeerConnection;
  const made: RTCPeerConnection[] = [];
  (window as unknown as { benchPcs: RTCPeerConnection[] }).benchPcs = made;
  window.RTCPeerConnection = class extends Native {
    constructor(config?: RTCConfiguration) {
      super(config);
      made.push(this);
    }
  } as typeof RTCPeerConnection;
}
