// Browser entry: mounts the app.
import { render } from 'preact';
import { App } from './ui/app.tsx';
import { loadRoomModules } from './ui/room-modules.ts';
import './styles.css';

// The page's CSP forbids eval, and zod's probe for it (a caught `new Function`, made when the protocol's schemas are
// built) is still reported as a violation. zod reads this global config when it loads, in the room's code, after this
// first script: setting it here, without importing zod into the first script, checks every schema without compiled
// code. (The hygiene test catches any violation, should zod stop reading it.)
(globalThis as { __zod_globalConfig?: object }).__zod_globalConfig = { jitless: true };

// A room link needs the room's code before anything else (room.html has already begun fetching it): its evaluation
// starts right after this first render instead of after the first effects.
if (window.isSecureContext && location.pathname.startsWith('/r/')) void loadRoomModules().catch(() => undefined);
render(<App />, document.getElementById('app')!);
