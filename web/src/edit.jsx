// edit.jsx — the Edit mode: a file and an instruction; the model rewrites
// the file with the file itself as the prediction (OpenAI "predicted
// outputs": unchanged code is verified many tokens per step), the change
// shows as a live line diff (jsdiff), with accepted/rejected prediction
// tokens and the effective tokens per second.
//
// The prompt follows `wafer edit` (docs/edit.md): a model with a chat
// template gets its system + user messages and the fenced file as the
// prediction; a base model without one whose vocabulary has <|file_sep|>
// (the embedded model) gets its raw edit format BOS INSTRUCTION \n SEP FILE
// SEP, built from token ids so the file's text is never read as control tokens.
import { useEffect, useRef, useState, useCallback } from 'preact/hooks';
import { diffLines } from 'diff';
import { stream, cancel, postJSON, getJSON } from './api.js';
import { makeEditor, langOfFile, LANG_NAMES } from './editor.js';
import { copyText } from './markdown.js';
import { Stats, statsFrom } from './stats.jsx';

const SYSTEM = 'You rewrite a file as the user instructs. Reply with the complete new file in one fenced code block and nothing else. Keep everything the instruction does not ask to change exactly as it is.';

const SAMPLE = `import json


def load_cfg(path):
    with open(path) as f:
        return json.load(f)


def save_cfg(path, cfg):
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2)


MAX_RETRIES = 3
`;

function fenceFor(text) {
  let longest = 2;
  for (const m of text.matchAll(/^(`{3,})/gm)) longest = Math.max(longest, m[1].length);
  return '`'.repeat(longest + 1);
}

// The code inside the answer's first fenced block (so far, while it streams).
function unfence(answer) {
  const m = /^[ \t]*(`{3,})[^\n]*\n/m.exec(answer);
  if (!m) return answer;
  const body = answer.slice(m.index + m[0].length);
  const end = body.search(new RegExp('^[ \\t]*' + m[1] + '[ \\t]*$', 'm'));
  return end >= 0 ? body.slice(0, end) : body;
}

// Which prompt the server's model wants: 'raw' (ids) or 'chat'.
async function editFormat() {
  const props = await getJSON('/props');
  if (props.chat_template_source !== 'none') return { kind: 'chat' };
  const bos = props.bos_token || '';
  const t = await postJSON('/tokenize', { content: bos + '<|file_sep|>', parse_special: true });
  const ids = t.tokens || [];
  if (ids.length !== (bos ? 2 : 1)) return { kind: 'chat' };
  return { kind: 'raw', bos: bos ? [ids[0]] : [], sep: ids[ids.length - 1] };
}

async function plainIds(text) {
  return (await postJSON('/tokenize', { content: text, parse_special: false })).tokens;
}

// One diff row list: unchanged runs longer than 2*CTX folded; while
// streaming, what follows the last line written is 'pending', not removed.
function diffRows(before, after, streaming) {
  // while streaming, a half-written last line waits for its end
  const parts = diffLines(before, streaming ? after.slice(0, after.lastIndexOf('\n') + 1) : after);
  if (streaming && parts.length && parts[parts.length - 1].removed) parts[parts.length - 1].pending = true;
  const rows = [];
  const CTX = 3;
  for (let p = 0; p < parts.length; p++) {
    const part = parts[p];
    const lines = part.value.replace(/\n$/, '').split('\n');
    const kind = part.pending ? 'pending' : part.added ? 'add' : part.removed ? 'del' : 'same';
    if (kind === 'same' && lines.length > 2 * CTX + 1) {
      const head = p === 0 ? [] : lines.slice(0, CTX);
      const tail = p === parts.length - 1 ? [] : lines.slice(-CTX);
      head.forEach((l) => rows.push(['same', l]));
      rows.push(['fold', `… ${lines.length - head.length - tail.length} unchanged lines`]);
      tail.forEach((l) => rows.push(['same', l]));
    } else if (kind === 'pending') {
      rows.push(['fold', `… ${lines.length} more line${lines.length === 1 ? '' : 's'} still to come`]);
    } else lines.forEach((l) => rows.push([kind, l]));
  }
  return rows;
}

export function Edit({ settings, onAuth }) {
  const host = useRef(null);
  const view = useRef(null);
  const [name, setName] = useState('config.py');
  const [instruction, setInstruction] = useState('rename load_cfg to load_config');
  const [result, setResult] = useState('');
  const [original, setOriginal] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const [stats, setStats] = useState(null);
  const run = useRef(null);

  useEffect(() => {
    const v = makeEditor(host.current, { doc: SAMPLE, lang: 'python', label: 'File to edit' });
    view.current = v;
    return () => v.destroy();
  }, []);

  const openFile = async (ev) => {
    const f = ev.target.files && ev.target.files[0];
    ev.target.value = '';
    if (!f) return;
    if (f.size > 2 << 20) { setError(`${f.name} is ${Math.round(f.size / 1024)} KiB: too large to edit here (2 MiB at most).`); return; }
    const text = await f.text();
    const v = view.current;
    v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: text } });
    v.setLanguage(langOfFile(f.name));
    setName(f.name);
  };

  const start = useCallback(async () => {
    const text = view.current.state.doc.toString();
    if (!instruction.trim()) { setError('Write an instruction first.'); return; }
    if (!text) { setError('Open or paste a file first.'); return; }
    setError(''); setResult(''); setStats(null); setOriginal(text); setBusy(true);
    const ctrl = new AbortController();
    const me = { ctrl, id: null, stopped: false };
    run.current = me;
    const t0 = performance.now();
    let ttft = null, usage = null, timings = null, finish = null, answer = '';
    try {
      const fmt = await editFormat();
      let path, body;
      const common = { stream: true, stream_options: { include_usage: true }, temperature: 0 };
      if (fmt.kind === 'raw') {
        const ids = [...fmt.bos, ...(await plainIds(instruction + '\n')), fmt.sep, ...(await plainIds(text)), fmt.sep];
        path = '/v1/completions';
        body = { ...common, prompt: ids, prediction: { type: 'content', content: text }, max_tokens: Math.max(64, 2 * ids.length) };
      } else {
        const fence = fenceFor(text);
        const lang = langOfFile(name);
        const fenced = `${fence}${lang === 'text' ? '' : lang}\n${text}${text.endsWith('\n') ? '' : '\n'}${fence}\n`;
        path = '/v1/chat/completions';
        body = { ...common, messages: [{ role: 'system', content: SYSTEM }, { role: 'user', content: `${instruction}\n\nFile: ${name}\n${fenced}` }],
          prediction: { type: 'content', content: fenced }, max_tokens: Number(settings.max_tokens) > 0 ? Math.max(Number(settings.max_tokens), 4096) : undefined };
      }
      if (settings.spec !== 'server') body.speculative = settings.spec;
      await stream(path, body, (ev) => {
        if (ev.id && !me.id) me.id = ev.id;
        const ch = ev.choices && ev.choices[0];
        const piece = ch ? (ch.delta ? ch.delta.content : ch.text) : '';
        if (piece) {
          if (ttft === null) ttft = performance.now() - t0;
          answer += piece;
          setResult(fmt.kind === 'raw' ? answer : unfence(answer));
        }
        if (ch && ch.finish_reason) finish = ch.finish_reason;
        if (ev.usage) { usage = ev.usage; timings = ev.timings; }
      }, ctrl.signal);
    } catch (e) {
      if (e.name !== 'AbortError') { setError(e.message); if (e.kind === 'auth') onAuth(); }
      else me.stopped = true;
    }
    setStats(statsFrom({ ttft, usage, timings, finish: me.stopped ? 'stopped' : finish, elapsed: performance.now() - t0 }));
    run.current = null;
    setBusy(false);
  }, [instruction, name, settings, onAuth]);

  const stop = useCallback(async () => {
    const me = run.current;
    if (!me) return;
    me.stopped = true;
    if (me.id) await cancel(me.id); else me.ctrl.abort();
  }, []);

  const download = () => {
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([result], { type: 'text/plain' }));
    a.download = name || 'edited.txt';
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  };

  const rows = original || result ? diffRows(original, result, busy) : [];
  return (
    <section class="edit" aria-label="Edit">
      <form class="toolbar" onSubmit={(e) => { e.preventDefault(); busy ? stop() : start(); }}>
        <label class="button">Open file<input type="file" class="visually-hidden" onChange={openFile} /></label>
        <label>Name <input value={name} size="14" onInput={(e) => { setName(e.target.value); view.current.setLanguage(langOfFile(e.target.value)); }} /></label>
        <label class="grow">Instruction <input id="instruction" value={instruction} onInput={(e) => setInstruction(e.target.value)}
          onKeyDown={(e) => { if (e.key === 'Escape' && busy) { e.preventDefault(); stop(); } }} /></label>
        <button type="submit" class={busy ? 'stop' : 'primary'}>{busy ? 'Stop' : 'Rewrite'}</button>
      </form>
      {error && <div class="error" role="alert">{error}</div>}
      <div class="edit-panes">
        <div class="pane">
          <h3>File</h3>
          <div class="editor" ref={host} />
        </div>
        <div class="pane">
          <h3>Change <span class="muted">(live diff)</span></h3>
          <div class="diff" role="region" aria-label="Diff" aria-busy={busy}>
            {rows.length === 0 ? <p class="hint">The rewritten file shows here as a diff while it streams.</p> :
              rows.map(([k, l], i) => <div key={i} class={'dl ' + k}><span class="sign" aria-hidden="true">{k === 'add' ? '+' : k === 'del' ? '-' : ' '}</span>{l}</div>)}
          </div>
          {stats && <Stats s={stats} />}
          <div class="row">
            <button type="button" disabled={!result || busy} onClick={() => copyText(result)}>Copy result</button>
            <button type="button" disabled={!result || busy} onClick={download}>Download</button>
          </div>
        </div>
      </div>
    </section>
  );
}
