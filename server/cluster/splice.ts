// A piped-in producer that outlives the pipe feeding it: an edge's listeners and children consume it while the edge changes parents.
import type { types } from 'mediasoup';

/** RTP sequence numbers that continue across a change of source, whatever the new source numbers from. */
export class SequenceSplice {
  private offset = 0;
  private last: number | null = null;
  private fresh = true;

  /** The next packet comes from a new source. */
  switched(): void {
    this.fresh = true;
  }

  /** The number a packet numbered `seq` by its source goes out with. */
  map(seq: number): number {
    if (this.fresh) {
      this.offset = this.last === null ? 0 : (this.last + 1 - seq) & 0xffff;
      this.fresh = false;
    }
    const out = (seq + this.offset) & 0xffff;
    this.last = out;
    return out;
  }
}

/**
 * The producer an edge's consumers and child pipes use for one producer of a remote room: a DirectTransport
 * producer with the producer's id, fed with the RTP of a consumer of whatever pipe from a parent is current. A
 * mediasoup producer dies with its transport, so one made on the pipe itself would take every listener's consumer
 * with it when the parent goes; this one stays, and only its source changes. The RTP is SFrame-encrypted audio:
 * only its SSRC and sequence number are rewritten, so that consumers see one stream.
 */
export class SplicedProducer {
  readonly producer: types.Producer;
  private readonly ssrc: number;
  private readonly sequence = new SequenceSplice();
  private source: types.Consumer | null = null;

  private constructor(producer: types.Producer, ssrc: number) {
    this.producer = producer;
    this.ssrc = ssrc;
  }

  /**
   * Made from its first source, a consumer on `direct` of a producer piped in from a parent. `streamCertificate`: the
   * speaker's, as the origin keeps it, handed on unchanged to the consumers and child relays here.
   */
  static async make(direct: types.DirectTransport, id: string, source: types.Consumer, paused: boolean, streamCertificate?: string): Promise<SplicedProducer> {
    const producer = await direct.produce({ id, kind: source.kind, rtpParameters: source.rtpParameters, paused, appData: { streamCertificate } });
    const spliced = new SplicedProducer(producer, source.rtpParameters.encodings?.[0]?.ssrc ?? 0);
    spliced.feed(source);
    producer.observer.once('close', () => spliced.source?.close());
    return spliced;
  }

  /** RTP from `source` from now on; the former source is closed. */
  feed(source: types.Consumer): void {
    const former = this.source;
    this.source = source;
    former?.close();
    this.sequence.switched();
    source.on('rtp', (packet: Buffer) => {
      if (this.source !== source || this.producer.closed || packet.length < 12) return;
      packet.writeUInt16BE(this.sequence.map(packet.readUInt16BE(2)), 2);
      packet.writeUInt32BE(this.ssrc, 8);
      this.producer.send(packet);
    });
  }
}
