// The relay's events into the session: each checked against its schema, then a core input or a shell flow.
import type { Socket } from 'socket.io-client';
import { deriveRoomKeys } from '../../../../crypto/index.ts';
import { onEvent } from '../../../../protocol/client.ts';
import type { EventOf, EventType } from '../../../../protocol/messages.ts';
import { markJoin } from '../../media/join-timeline.ts';
import { run, step } from './effects.ts';
import { end, fail } from './ending.ts';
import { enter } from './entering.ts';
import { onRoomMessage } from './life.ts';
import { consume, resetMedia } from './media.ts';
import { onPeerLeft, onPeerUpdated, onRoomMembers } from './members.ts';
import { render } from './projection.ts';
import { resume } from './rejoin.ts';
import { switchSecret } from './rotation.ts';
import { onConfirmation } from './send-gate.ts';
import { isMember, type SessionState } from './state.ts';
import { keepOffersNow, keepOffersSoon } from './storage.ts';

export function wireEvents(s: SessionState, socket: Socket): void {
  // Every event is parsed against its schema first: a malformed one is counted and dropped, never acted on.
  const on = <T extends EventType>(event: T, handler: (payload: EventOf<T>) => void) =>
    onEvent(socket, event, handler, () => {
      s.droppedEvents++;
      s.update({ droppedEvents: s.droppedEvents });
    });
  on('peer.joined', ({ participant }) => step(s, { kind: 'peer.joined', participant, now: Date.now() }));
  on('peer.updated', ({ participant }) => onPeerUpdated(s, participant));
  on('peer.left', ({ participantId }) => onPeerLeft(s, participantId));
  on('room.members', (page) => {
    const participants = s.memberPages.add(page);
    if (participants) onRoomMembers(s, participants);
  });
  on('room.audience', ({ count }) => s.update({ audienceCount: count }));
  on('producer.added', ({ producerId, participantId }) => void consume(s, producerId, participantId));
  on('producer.removed', ({ producerId, participantId }) => {
    s.media?.closeConsumer(producerId);
    s.meter?.remove(participantId);
  });
  on('key.commit', ({ commit, epoch, package: pkg }) => step(s, { kind: 'key.commit', commit, epoch, package: pkg ?? null }));
  on('key.package', ({ package: pkg, epoch }) => step(s, { kind: 'key.package', package: pkg, epoch }));
  on('stage.invited', ({ decision }) => step(s, { kind: 'stage.invited', decision, now: Date.now() }));
  on('stage.decision', ({ decision }) => step(s, { kind: 'stage.decision', decision, now: Date.now() }));
  on('epoch.challenge', ({ from, nonce }) => step(s, { kind: 'epoch.challenge', from, nonce }));
  on('key.resend', ({ from }) => step(s, { kind: 'key.resend', from, now: Date.now() }));
  on('key.kem', ({ from, offer }) => {
    step(s, { kind: 'key.kem', from, offer, now: Date.now() });
    keepOffersSoon(s);
  });
  on('epoch.confirm', ({ confirmation }) => onConfirmation(s, confirmation));
  on('lobby.updated', ({ lobby }) => {
    s.lobbyRaw = lobby;
    if (isMember(s)) run(s, s.core.admitFormer(s.lobbyRaw, Date.now()));
    render(s);
  });
  // Only a visitor waiting in the lobby is admitted: in the room, entering again would reset the member list.
  on('lobby.admitted', (result) => {
    if (s.phase.kind === 'lobby' && isMember(s)) void enter(s, result).catch((e) => fail(s, e));
    else s.rejected.relayEvents++;
  });
  on('lobby.declined', () => end(s, 'lobbyDeclined'));
  on('member.kicked', () => end(s, 'kicked'));
  on('room.updated', ({ locked }) => {
    s.locked = locked;
    s.update({ locked });
  });
  on('room.ended', () => end(s, 'roomEnded'));
  on('room.rotated', ({ newRoomId }) => {
    const next = s.pendingSecret;
    // Only a move to the room id of a secret the distributor sealed to us: the relay's word alone changes nothing.
    if (next && isMember(s) && deriveRoomKeys(next).roomId === newRoomId) void switchSecret(s, next);
    else s.rejected.relayEvents++;
  });
  on('room.mediaReset', () => void resetMedia(s));
  on('room.message', ({ from, message, announcement }) => onRoomMessage(s, message, from, announcement));
  on('relay.shuttingDown', () => s.update({ reconnecting: true }));
  socket.on('disconnect', () => {
    if (s.phase.kind === 'room') s.update({ reconnecting: true });
  });
  // Every connect after the first is a way back: socket.io's own reconnection, or one started by dropConnection.
  let connectedBefore = false;
  socket.on('connect', () => {
    markJoin('socket-connected');
    if (connectedBefore) void resume(s);
    connectedBefore = true;
  });
  // Closing the tab is a leave, not a lost network; but a reload looks the same from here. So the page tells the
  // relay it is going away: it is kept only for the short away grace, within which a reload comes back as itself.
  addEventListener('pagehide', () => {
    if (s.inRoomOrLobby()) socket.emit('room.away', {}, () => undefined);
    // Offers taken within the last second are not written yet: a reload must not lose them.
    keepOffersNow(s);
  });
}
