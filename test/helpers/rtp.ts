// Parsing just enough of RTP (RFC 3550) to reach the payload: CSRCs and the header extension are skipped.
export function rtpPayload(packet: Uint8Array): Uint8Array {
  const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  let offset = 12 + 4 * (packet[0]! & 0x0f);
  if (packet[0]! & 0x10) offset += 4 + 4 * view.getUint16(offset + 2);
  let end = packet.length;
  if (packet[0]! & 0x20) end -= packet[packet.length - 1]!;
  return packet.subarray(offset, end);
}

/** The sequence number and media timestamp (48 kHz for Opus): frame rate and gaps in media time, with no clock. */
export function rtpClock(packet: Uint8Array): { sequence: number; timestamp: number } {
  const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  return { sequence: view.getUint16(2), timestamp: view.getUint32(4) };
}
