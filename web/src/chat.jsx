// chat.jsx — the Chat mode: conversations (kept in IndexedDB), a streaming
// answer rendered as markdown, Stop (server-side cancel), steering (a
// message sent while an answer streams stops it and redirects, the partial
// answer kept so the server reuses the shared prefix), regenerate, editing
// an earlier message, export/import.
import { useEffect, useRef, useState, useCallback } from 'preact/hooks';
import { stream, cancel, ApiError } from './api.js';
import { renderMarkdown, onCopyClick } from './markdown.js';
import * as store from './store.js';
import { Stats, statsFrom } from './stats.jsx';

function titleOf(text) {
  const t = text.replace(/```[^\n]*/g, ' ').replace(/[`*#>]+/g, '').replace(/\s+/g, ' ').trim();
  return t.length > 48 ? t.slice(0, 47) + '…' : t || 'New chat';
}

function emptyConversation() {
  return { id: store.newId(), title: 'New chat', created: Date.now(), updated: Date.now(), messages: [] };
}

// The messages sent for an answer: the system prompt, then every message
// before the answer (partial, stopped answers included: that is what the
// model saw, and what lets the server reuse its cache).
function apiMessages(settings, msgs) {
  const out = [];
  if (settings.system.trim()) out.push({ role: 'system', content: settings.system });
  for (const m of msgs) if (m.content) out.push({ role: m.role, content: m.content });
  return out;
}

export function Chat({ settings, onAuth, active }) {
  const [convs, setConvs] = useState([]);
  const conv = useRef(emptyConversation());
  const [, setTick] = useState(0);
  const [input, setInput] = useState('');
  const [busy, setBusy] = useState(false);
  const [editing, setEditing] = useState(-1);
  const [editText, setEditText] = useState('');
  const [renaming, setRenaming] = useState(null);
  const [notice, setNotice] = useState('');
  const [sideOpen, setSideOpen] = useState(false);
  const run = useRef(null);       // {ctrl, id, done: Promise, stopped}
  const inputRef = useRef(null);
  const logRef = useRef(null);
  const frame = useRef(0);

  const redraw = useCallback(() => {
    if (frame.current) return;
    frame.current = requestAnimationFrame(() => { frame.current = 0; setTick((t) => t + 1); });
  }, []);

  const refreshList = useCallback(async () => {
    try { setConvs(await store.listConversations()); } catch (e) { setNotice('Cannot read saved conversations: ' + e.message); }
  }, []);

  const save = useCallback(async () => {
    const c = conv.current;
    if (!c.messages.length) return;
    c.updated = Date.now();
    try { await store.saveConversation(JSON.parse(JSON.stringify(c))); } catch (e) { setNotice('Could not save the conversation: ' + e.message); }
    refreshList();
  }, [refreshList]);

  useEffect(() => { refreshList(); }, []);

  // follow the answer while it streams, unless the reader scrolled up
  useEffect(() => {
    const el = logRef.current;
    if (el && el.scrollHeight - el.scrollTop - el.clientHeight < 120) el.scrollTop = el.scrollHeight;
  });

  // Stream an answer into the last message (an empty assistant message).
  const answer = useCallback(async () => {
    const c = conv.current;
    const msg = c.messages[c.messages.length - 1];
    const body = {
      model: 'wafer',
      messages: apiMessages(settings, c.messages.slice(0, -1)),
      stream: true,
      stream_options: { include_usage: true },
      temperature: Number(settings.temperature),
      top_p: Number(settings.top_p),
      max_tokens: Number(settings.max_tokens) || undefined,
    };
    if (settings.spec !== 'server') body.speculative = settings.spec;
    const ctrl = new AbortController();
    const me = { ctrl, id: null, stopped: false };
    run.current = me;
    setBusy(true);
    delete msg.error;
    delete msg.stopped;
    const t0 = performance.now();
    let ttft = null, finish = null, usage = null, timings = null;
    me.done = (async () => {
      try {
        await stream('/v1/chat/completions', body, (ev) => {
          if (ev.id && !me.id) me.id = ev.id;
          const ch = ev.choices && ev.choices[0];
          if (ch && ch.delta && ch.delta.content) {
            if (ttft === null) ttft = performance.now() - t0;
            msg.content += ch.delta.content;
            redraw();
          }
          if (ch && ch.finish_reason) finish = ch.finish_reason;
          if (ev.usage) { usage = ev.usage; timings = ev.timings; }
        }, ctrl.signal);
      } catch (e) {
        if (e.name === 'AbortError') me.stopped = true;
        else {
          msg.error = e.message;
          msg.errorKind = e.kind || 'http';
          if (e.kind === 'auth') onAuth();
        }
      }
      if (me.stopped) msg.stopped = true;
      msg.stats = statsFrom({ ttft, usage, timings, finish: me.stopped ? 'stopped' : finish, elapsed: performance.now() - t0 });
      if (run.current === me) run.current = null;
      setBusy(!!run.current);
      redraw();
      await save();
    })();
    return me.done;
  }, [settings, onAuth, redraw, save]);

  // Stop: the server cancels by id at once (the stream then ends normally);
  // before the first chunk there is no id yet, so the connection is closed,
  // which the server also sees as a cancel.
  const stop = useCallback(async () => {
    const me = run.current;
    if (!me) return;
    me.stopped = true;
    if (me.id) await cancel(me.id);
    else me.ctrl.abort();
    await me.done;
  }, []);

  const send = useCallback(async (text) => {
    if (!text.trim()) return;
    if (run.current) await stop();           // steer: stop, keep the partial answer, redirect
    const c = conv.current;
    if (c.messages.length === 0) c.title = titleOf(text);
    c.messages.push({ role: 'user', content: text }, { role: 'assistant', content: '' });
    setInput('');
    await save();
    await answer();
  }, [answer, stop, save]);

  const regenerate = useCallback(async () => {
    if (run.current) await stop();
    const c = conv.current;
    while (c.messages.length && c.messages[c.messages.length - 1].role === 'assistant') c.messages.pop();
    if (!c.messages.length) return;
    c.messages.push({ role: 'assistant', content: '' });
    await save();
    await answer();
  }, [answer, stop, save]);

  const retry = regenerate;

  const saveEdit = useCallback(async (i) => {
    if (run.current) await stop();
    const c = conv.current;
    c.messages = c.messages.slice(0, i);
    c.messages.push({ role: 'user', content: editText }, { role: 'assistant', content: '' });
    if (i === 0) c.title = titleOf(editText);
    setEditing(-1);
    await save();
    await answer();
  }, [answer, stop, save, editText]);

  const open = useCallback(async (id) => {
    if (run.current) await stop();
    const c = await store.loadConversation(id);
    if (c) { conv.current = c; setEditing(-1); setSideOpen(false); redraw(); }
  }, [stop, redraw]);

  const newChat = useCallback(async () => {
    if (run.current) await stop();
    conv.current = emptyConversation();
    setEditing(-1);
    setSideOpen(false);
    redraw();
    inputRef.current && inputRef.current.focus();
  }, [stop, redraw]);

  const remove = useCallback(async (id) => {
    if (!confirm('Delete this conversation?')) return;
    await store.deleteConversation(id);
    if (conv.current.id === id) conv.current = emptyConversation();
    refreshList();
    redraw();
  }, [refreshList, redraw]);

  const rename = useCallback(async (c, title) => {
    setRenaming(null);
    title = title.trim();
    if (!title) return;
    const full = await store.loadConversation(c.id);
    if (!full) return;
    full.title = title.slice(0, 200);
    await store.saveConversation(full);
    if (conv.current.id === c.id) conv.current.title = full.title;
    refreshList();
  }, [refreshList]);

  const exportAll = useCallback(async () => {
    const all = await store.listConversations();
    const blob = new Blob([store.exportJSON(all)], { type: 'application/json' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = 'wafer-conversations.json';
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  }, []);

  const importFile = useCallback(async (ev) => {
    const f = ev.target.files && ev.target.files[0];
    ev.target.value = '';
    if (!f) return;
    try {
      const n = await store.importJSON(await f.text());
      setNotice(`Imported ${n} conversation${n === 1 ? '' : 's'}.`);
    } catch (e) {
      setNotice('Import failed: ' + e.message);
    }
    refreshList();
  }, [refreshList]);

  // keyboard: Esc stops, Ctrl+Shift+O (or Alt+N) starts a new chat
  useEffect(() => {
    if (!active) return;
    const onKey = (e) => {
      if (e.key === 'Escape' && run.current) { e.preventDefault(); stop(); }
      else if ((e.ctrlKey && e.shiftKey && (e.key === 'O' || e.key === 'o')) || (e.altKey && (e.key === 'n' || e.key === 'N'))) { e.preventDefault(); newChat(); }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [active, stop, newChat]);

  const c = conv.current;
  const last = c.messages.length - 1;
  return (
    <div class="chat">
      <aside class={'side' + (sideOpen ? ' open' : '')} aria-label="Conversations">
        <div class="side-head">
          <button type="button" class="primary" onClick={newChat} title="New chat (Ctrl+Shift+O or Alt+N)">New chat</button>
        </div>
        <ul class="convs" role="list">
          {convs.map((x) => (
            <li key={x.id} class={x.id === c.id ? 'current' : ''}>
              {renaming === x.id ? (
                <input aria-label="New title" value={x.title} autoFocus
                  onKeyDown={(e) => { if (e.key === 'Enter') rename(x, e.target.value); if (e.key === 'Escape') { e.stopPropagation(); setRenaming(null); } }}
                  onBlur={(e) => rename(x, e.target.value)} />
              ) : (
                <button type="button" class="conv-open" aria-current={x.id === c.id ? 'true' : undefined} onClick={() => open(x.id)}>{x.title}</button>
              )}
              <button type="button" class="icon" aria-label={'Rename ' + x.title} title="Rename" onClick={() => setRenaming(x.id)}>✎</button>
              <button type="button" class="icon" aria-label={'Delete ' + x.title} title="Delete" onClick={() => remove(x.id)}>✕</button>
            </li>
          ))}
        </ul>
        <div class="side-foot">
          <button type="button" onClick={exportAll}>Export JSON</button>
          <label class="button">Import JSON<input type="file" accept="application/json,.json" class="visually-hidden" onChange={importFile} /></label>
        </div>
      </aside>
      <section class="thread" aria-label="Conversation">
        <div class="thread-head">
          <button type="button" class="icon side-toggle" aria-label="Show conversations" aria-expanded={sideOpen} onClick={() => setSideOpen(!sideOpen)}>☰</button>
          <h2>{c.title}</h2>
        </div>
        {notice && <div class="notice" role="status">{notice} <button type="button" class="link" onClick={() => setNotice('')}>Dismiss</button></div>}
        <div class="log" ref={logRef} role="log" aria-live="polite" aria-busy={busy} onClick={onCopyClick}>
          {c.messages.length === 0 && <p class="hint">Ask for code. Enter sends, Shift+Enter starts a new line, Esc stops an answer; a message sent while an answer streams redirects it.</p>}
          {c.messages.map((m, i) => (
            <article key={i} class={'msg ' + m.role} aria-label={m.role === 'user' ? 'You' : 'Assistant'}>
              {m.role === 'user' && editing === i ? (
                <form class="edit-msg" onSubmit={(e) => { e.preventDefault(); saveEdit(i); }}>
                  <textarea aria-label="Edit message" value={editText} onInput={(e) => setEditText(e.target.value)}
                    onKeyDown={(e) => { if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); saveEdit(i); } if (e.key === 'Escape') { e.stopPropagation(); setEditing(-1); } }} />
                  <div class="row"><button type="submit" class="primary">Send</button><button type="button" onClick={() => setEditing(-1)}>Cancel</button></div>
                </form>
              ) : m.role === 'user' ? (
                <div class="body md user-text" dangerouslySetInnerHTML={{ __html: renderMarkdown(m.content) }} />
              ) : (
                <div class="body md" dangerouslySetInnerHTML={{ __html: renderMarkdown(m.content || '', !(busy && i === last)) }} />
              )}
              {m.role === 'assistant' && busy && i === last && !m.content && <div class="typing" aria-label="Waiting for the first token">…</div>}
              {m.error && (
                <div class={'error ' + (m.errorKind || '')} role="alert">
                  {m.error}
                  {i === last && !busy && m.errorKind !== 'context' && <button type="button" onClick={retry}>Retry</button>}
                </div>
              )}
              {m.role === 'assistant' && m.stats && <Stats s={m.stats} />}
              <div class="msg-actions">
                {m.role === 'user' && editing !== i && <button type="button" class="link" onClick={() => { setEditing(i); setEditText(m.content); }}>Edit</button>}
                {m.role === 'assistant' && i === last && !busy && <button type="button" class="link" onClick={regenerate}>Regenerate</button>}
              </div>
            </article>
          ))}
        </div>
        <form class="composer" onSubmit={(e) => { e.preventDefault(); send(input); }}>
          <label for="prompt" class="visually-hidden">Message</label>
          <textarea id="prompt" ref={inputRef} rows="3" autoFocus value={input} placeholder={busy ? 'Type to redirect the answer…' : 'Message wafer…'}
            onInput={(e) => setInput(e.target.value)}
            onKeyDown={(e) => { if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(input); } }} />
          <div class="composer-buttons">
            {busy && <button type="button" class="stop" onClick={stop} title="Stop (Esc)">Stop</button>}
            <button type="submit" class="primary" disabled={!input.trim()}>{busy ? 'Redirect' : 'Send'}</button>
          </div>
        </form>
      </section>
    </div>
  );
}
