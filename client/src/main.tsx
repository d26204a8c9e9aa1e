// Browser entry: mounts the app.
import { render } from 'preact';
import { App } from './ui/app.tsx';
import './styles.css';

render(<App />, document.getElementById('app')!);
