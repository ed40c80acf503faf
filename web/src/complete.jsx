// complete.jsx — the Complete mode: a CodeMirror editor that asks the
// server's /infill (fill in the middle) for the code at the cursor after a
// pause in typing and shows it as ghost text; Tab accepts it, Esc (or any
// typing) dismisses it. What an editor extension such as llama.vscode does.
import { useEffect, useRef, useState } from 'preact/hooks';
import { StateField, StateEffect, Prec } from '@codemirror/state';
import { EditorView, Decoration, WidgetType, keymap } from '@codemirror/view';
import { makeEditor, LANG_NAMES } from './editor.js';
import { postJSON } from './api.js';

const PAUSE_MS = 300;

const setGhost = StateEffect.define();

class GhostWidget extends WidgetType {
  constructor(text) { super(); this.text = text; }
  eq(o) { return o.text === this.text; }
  toDOM() {
    const s = document.createElement('span');
    s.className = 'cm-ghost';
    s.setAttribute('aria-hidden', 'true');
    s.textContent = this.text;
    return s;
  }
  ignoreEvent() { return false; }
}

// {pos, text} or null; any edit or cursor move drops it
const ghostField = StateField.define({
  create: () => null,
  update(value, tr) {
    for (const e of tr.effects) if (e.is(setGhost)) return e.value;
    if (tr.docChanged || tr.selection) return null;
    return value;
  },
  provide: (f) => EditorView.decorations.from(f, (g) =>
    g ? Decoration.set([Decoration.widget({ widget: new GhostWidget(g.text), side: 1 }).range(g.pos)]) : Decoration.none),
});

function acceptGhost(view) {
  const g = view.state.field(ghostField);
  if (!g) return false;
  view.dispatch({ changes: { from: g.pos, insert: g.text }, selection: { anchor: g.pos + g.text.length }, userEvent: 'input.complete' });
  return true;
}

function dismissGhost(view) {
  if (!view.state.field(ghostField)) return false;
  view.dispatch({ effects: setGhost.of(null) });
  return true;
}

const SAMPLE = `def fibonacci(n):
    """Return the n-th Fibonacci number."""
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def is_prime(n):
    `;

export function Complete({ settings, onAuth }) {
  const host = useRef(null);
  const view = useRef(null);
  const [lang, setLang] = useState('python');
  const [status, setStatus] = useState('Type, then pause: a suggestion appears as grey text. Tab accepts it, Esc dismisses it.');
  const [spoken, setSpoken] = useState('');   // the suggestion for screen readers (the ghost text is aria-hidden)

  useEffect(() => {
    let timer = 0, ctrl = null;
    const request = async (v) => {
      const st = v.state;
      const pos = st.selection.main.head;
      if (!st.selection.main.empty) return;
      const doc = st.doc.toString();
      ctrl = new AbortController();
      const t0 = performance.now();
      setStatus('Asking /infill…');
      try {
        const r = await postJSON('/infill', {
          input_prefix: doc.slice(0, pos), input_suffix: doc.slice(pos),
          n_predict: 64, temperature: 0, top_k: 1, stream: false, cache_prompt: true, t_max_predict_ms: 2000,
        }, ctrl.signal);
        if (v.state.doc !== st.doc || v.state.selection.main.head !== pos) return;   // typed meanwhile
        const text = (r.content || '').replace(/\s+$/, (m) => (m.includes('\n') ? '\n' : ''));
        const ms = Math.round(performance.now() - t0);
        if (!text.trim()) { setStatus(`No suggestion (${ms} ms).`); return; }
        v.dispatch({ effects: setGhost.of({ pos, text }) });
        setSpoken('Suggestion: ' + text.slice(0, 200));
        const t = r.timings || {};
        setStatus(`Suggestion in ${ms} ms: ${r.tokens_predicted} tokens, ${r.tokens_cached || 0} prompt tokens cached` +
          (t.predicted_per_second ? `, ${Math.round(t.predicted_per_second)} tok/s` : '') + '. Tab accepts, Esc dismisses.');
      } catch (e) {
        if (e.name === 'AbortError') return;
        setStatus(e.message);
        if (e.kind === 'auth') onAuth();
      }
    };
    const schedule = (v) => {
      clearTimeout(timer);
      if (ctrl) { ctrl.abort(); ctrl = null; }   // the server cancels a request whose client went away
      setSpoken('');
      timer = setTimeout(() => request(v), PAUSE_MS);
    };
    const ghostKeys = Prec.highest(keymap.of([
      { key: 'Tab', run: acceptGhost },
      { key: 'Escape', run: dismissGhost },
    ]));
    const v = makeEditor(host.current, {
      doc: SAMPLE, lang: 'python', label: 'Code editor with completions',
      extensions: [ghostField, ghostKeys, EditorView.updateListener.of((u) => {
        if (u.docChanged && !u.transactions.some((t) => t.isUserEvent('input.complete'))) schedule(u.view);
      })],
    });
    v.dispatch({ selection: { anchor: SAMPLE.length } });
    view.current = v;
    host.current.editorView = v;   // the tests read the document through it
    return () => { clearTimeout(timer); if (ctrl) ctrl.abort(); v.destroy(); };
  }, []);

  return (
    <section class="complete" aria-label="Complete">
      <div class="toolbar">
        <label>Language <select value={lang} onChange={(e) => { setLang(e.target.value); view.current.setLanguage(e.target.value); }}>
          {LANG_NAMES.map((n) => <option key={n} value={n}>{n}</option>)}
        </select></label>
        <button type="button" onClick={() => { const v = view.current; v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: '' } }); v.focus(); }}>Clear</button>
      </div>
      <div class="editor complete-editor" ref={host} />
      <p class="status" role="status" aria-live="polite">{status}<span class="visually-hidden"> {spoken}</span></p>
    </section>
  );
}
