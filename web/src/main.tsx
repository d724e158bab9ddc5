import { render } from 'preact';
import { App } from './app';
import './styles.css';

const root = document.getElementById('app')!;
root.replaceChildren(); // the "loading" line of index.html
render(<App />, root);
