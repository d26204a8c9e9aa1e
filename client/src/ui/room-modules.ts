// The room session and the room screens (mediasoup-client, socket.io, zod, the QR code; libsodium after them): loaded
// apart from the first script, so the home page is usable before they arrive, and early so a click rarely waits.
import { initCrypto } from '../../../crypto/sodium.ts';
import type { RoomSession } from '../session/room-session.ts';
import type { Room } from './room.tsx';

export interface RoomModules {
  RoomSession: typeof RoomSession;
  Room: typeof Room;
}

let loading: Promise<RoomModules> | null = null;
let loaded: RoomModules | null = null;

/** Starts the load once; a failed load (the network dropped) may be tried again. */
export function loadRoomModules(): Promise<RoomModules> {
  loading ??= Promise.all([import('../session/room-session.ts'), import('./room.tsx')]).then(
    ([session, ui]) => (loaded = { RoomSession: session.RoomSession, Room: ui.Room }),
    (error: unknown) => {
      loading = null;
      throw error;
    },
  );
  return loading;
}

/** The modules if they have arrived: a click can then start the session synchronously, inside its user gesture. */
export function loadedRoomModules(): RoomModules | null {
  return loaded;
}

/**
 * Fetches the modules once the page has nothing else to do (after the first render), without holding anything up,
 * and then libsodium, which creating a room needs at the click (a room link's join screen loads it itself, later).
 */
export function preloadRoomModulesWhenIdle(): void {
  const later = (run: () => void) => (typeof requestIdleCallback === 'function' ? requestIdleCallback(run, { timeout: 1_000 }) : setTimeout(run, 0));
  later(
    () =>
      void loadRoomModules()
        .then(initCrypto)
        .catch(() => undefined),
  );
}
