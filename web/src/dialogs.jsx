// dialogs.jsx — Settings (system prompt, sampling, speculative mode, theme;
// kept in localStorage) and the API-key prompt (the key is kept in
// sessionStorage only, for this browser session).
import { useEffect, useRef, useState } from 'preact/hooks';
import { defaults } from './store.js';

function useModal(open) {
  const ref = useRef(null);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);
  return ref;
}

export function SettingsDialog({ open, settings, onSave, onClose }) {
  const ref = useModal(open);
  const [s, setS] = useState(settings);
  useEffect(() => { if (open) setS(settings); }, [open]);
  const field = (k) => ({ value: s[k], onInput: (e) => setS({ ...s, [k]: e.target.value }) });
  return (
    <dialog ref={ref} class="dialog" aria-labelledby="settings-title" onCancel={onClose}>
      <form method="dialog" onSubmit={(e) => { e.preventDefault(); onSave({
        ...s,
        temperature: clamp(s.temperature, 0, 2, defaults.temperature),
        top_p: clamp(s.top_p, 0, 1, defaults.top_p),
        max_tokens: Math.round(clamp(s.max_tokens, 1, 1 << 20, defaults.max_tokens)),
      }); }}>
        <h2 id="settings-title">Settings</h2>
        <label>System prompt<textarea rows="3" {...field('system')} placeholder="(none)" /></label>
        <div class="grid">
          <label>Temperature<input type="number" min="0" max="2" step="0.05" {...field('temperature')} /></label>
          <label>Top-p<input type="number" min="0" max="1" step="0.01" {...field('top_p')} /></label>
          <label>Max tokens<input type="number" min="1" step="1" {...field('max_tokens')} /></label>
        </div>
        <label>Speculative decoding
          <select {...field('spec')} onChange={(e) => setS({ ...s, spec: e.target.value })}>
            <option value="server">as the server was started (--spec)</option>
            <option value="lookup">prompt lookup (n-gram drafts from the context)</option>
            <option value="none">none</option>
          </select>
        </label>
        <label>Theme
          <select {...field('theme')} onChange={(e) => setS({ ...s, theme: e.target.value })}>
            <option value="auto">as the system</option>
            <option value="light">light</option>
            <option value="dark">dark</option>
          </select>
        </label>
        <div class="row end">
          <button type="button" onClick={() => setS({ ...defaults })}>Defaults</button>
          <button type="button" onClick={onClose}>Cancel</button>
          <button type="submit" class="primary">Save</button>
        </div>
      </form>
    </dialog>
  );
}

function clamp(v, lo, hi, dflt) {
  const n = Number(v);
  return Number.isFinite(n) ? Math.min(hi, Math.max(lo, n)) : dflt;
}

export function KeyDialog({ open, wrong, onSave, onClose }) {
  const ref = useModal(open);
  const [k, setK] = useState('');
  return (
    <dialog ref={ref} class="dialog" aria-labelledby="key-title" onCancel={onClose}>
      <form method="dialog" onSubmit={(e) => { e.preventDefault(); if (k.trim()) onSave(k.trim()); }}>
        <h2 id="key-title">API key</h2>
        <p>This server was started with an API key. It is kept for this browser session only (sessionStorage).</p>
        {wrong && <p class="error" role="alert">The server did not accept that key.</p>}
        <label>Key<input id="api-key" type="password" autocomplete="off" value={k} onInput={(e) => setK(e.target.value)} autoFocus /></label>
        <div class="row end">
          <button type="button" onClick={onClose}>Cancel</button>
          <button type="submit" class="primary">Use key</button>
        </div>
      </form>
    </dialog>
  );
}

export function HelpDialog({ open, onClose }) {
  const ref = useModal(open);
  return (
    <dialog ref={ref} class="dialog" aria-labelledby="help-title" onCancel={onClose}>
      <h2 id="help-title">Keyboard</h2>
      <dl class="keys">
        <dt>Enter</dt><dd>send (while an answer streams: stop it and redirect)</dd>
        <dt>Shift+Enter</dt><dd>new line</dd>
        <dt>Esc</dt><dd>stop the answer; in the editor, dismiss the suggestion</dd>
        <dt>Tab</dt><dd>in the editor, accept the suggestion</dd>
        <dt>Ctrl+Shift+O, Alt+N</dt><dd>new chat</dd>
        <dt>Alt+1, Alt+2, Alt+3</dt><dd>Chat, Edit, Complete</dd>
        <dt>?</dt><dd>this help (outside text fields)</dd>
      </dl>
      <div class="row end"><button type="button" class="primary" onClick={onClose}>Close</button></div>
    </dialog>
  );
}
