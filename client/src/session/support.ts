// Whether this browser can hold a room at all: the UI's first screen asks the session, which asks media/.
import { transformSupport } from '../media/e2ee.ts';

/** Without an encoded-transform API audio could only travel in the clear: such a browser gets no room at all. */
export function roomsSupported(): boolean {
  return typeof RTCPeerConnection !== 'undefined' && transformSupport() !== null;
}
