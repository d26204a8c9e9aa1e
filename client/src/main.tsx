// Browser entry: mounts the app.
import { render } from 'preact';
import { App } from './ui/app.tsx';
import { loadRoomModules } from './ui/room-modules.ts';
import './styles.css';

// A room link needs the room's code before anything else (room.html has already begun fetching it): its evaluation
// starts right after this first render instead of after the first effects.
if (window.isSecureContext && location.pathname.startsWith('/r/')) void loadRoomModules().catch(() => undefined);
render(<App />, document.getElementById('app')!);
