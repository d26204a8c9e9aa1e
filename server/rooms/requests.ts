// Every request a relay answers for the rooms it holds, by type: the handler files bound to one room service.
import type { Dispatcher } from '../signaling/connection.ts';
import type { Handlers } from './handler.ts';
import { keyHandlers } from './key-handlers.ts';
import { mediaHandlers } from './media-handlers.ts';
import { roomHandlers } from './room-handlers.ts';
import type { RoomService, Session } from './room-service.ts';
import { stageHandlers } from './stage-handlers.ts';

export function requestHandlers(service: RoomService): Handlers {
  return { ...roomHandlers.call(service), ...stageHandlers.call(service), ...keyHandlers.call(service), ...mediaHandlers.call(service) };
}

/** A relay alone: every request goes to its own room service. */
export function localDispatcher(service: RoomService): Dispatcher {
  const handlers = requestHandlers(service);
  return {
    dispatch: (session, type, payload) => (handlers[type] as (s: Session, p: unknown) => unknown)(session as Session, payload),
    disconnected: (session) => service.disconnected(session as Session),
  };
}
