// api.js — the app's only way to the server: same-origin fetch with the
// API key (when one was given), Server-Sent-Events parsing of OpenAI and
// llama.cpp streams, and errors turned into one shape the views can show.
import { getKey } from './store.js';

export class ApiError extends Error {
  // kind: 'auth' (401), 'busy' (429), 'context' (prompt too long),
  // 'network' (server unreachable or gone mid-answer), 'http' (others)
  constructor(kind, message, extra = {}) {
    super(message);
    this.kind = kind;
    Object.assign(this, extra);
  }
}

function headers(json) {
  const h = {};
  if (json) h['Content-Type'] = 'application/json';
  const key = getKey();
  if (key) h['Authorization'] = 'Bearer ' + key;
  return h;
}

async function errorFrom(res) {
  let body = null;
  try { body = await res.json(); } catch { /* not JSON */ }
  const e = (body && body.error) || {};
  const msg = e.message || `${res.status} ${res.statusText}`;
  if (res.status === 401) return new ApiError('auth', 'The server needs an API key: ' + msg, { status: 401 });
  if (res.status === 429) {
    const ra = Number(res.headers.get('Retry-After')) || 1;
    return new ApiError('busy', `The server is busy (every slot and the queue are full). Try again in ${ra} s.`, { status: 429, retryAfter: ra });
  }
  if (e.code === 'context_length_exceeded')
    return new ApiError('context', 'Too long for the model: ' + msg + ' Start a new chat, shorten the text, or delete earlier messages.', { status: res.status });
  return new ApiError('http', `Server error ${res.status}: ${msg}`, { status: res.status, code: e.code });
}

async function send(path, opts) {
  let res;
  try {
    res = await fetch(path, opts);
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError('network', 'Cannot reach the server (' + err.message + '). Is `wafer serve` still running?');
  }
  if (!res.ok) throw await errorFrom(res);
  return res;
}

export async function getJSON(path, signal) {
  const res = await send(path, { headers: headers(false), signal });
  return res.json();
}

export async function getText(path, signal) {
  const res = await send(path, { headers: headers(false), signal });
  return res.text();
}

export async function postJSON(path, body, signal) {
  const res = await send(path, { method: 'POST', headers: headers(true), body: JSON.stringify(body), signal });
  return res.json();
}

// POST body to path and call onEvent(obj) for every `data:` event of the
// Server-Sent-Events answer ([DONE] ends it). A `data: {"error": ...}`
// event (an error after the stream started) is thrown as an ApiError; a
// stream that ends without [DONE] or a final event is a lost connection.
export async function stream(path, body, onEvent, signal, isFinal) {
  const res = await send(path, { method: 'POST', headers: headers(true), body: JSON.stringify(body), signal });
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  let done = false;
  try {
    for (;;) {
      let r;
      try {
        r = await reader.read();
      } catch (err) {
        if (err.name === 'AbortError' || (signal && signal.aborted)) throw err;
        throw new ApiError('network', 'The connection to the server was lost mid-answer; what arrived is kept.');
      }
      if (r.done) break;
      buf += dec.decode(r.value, { stream: true });
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const ev = buf.slice(0, i);
        buf = buf.slice(i + 2);
        for (const line of ev.split('\n')) {
          if (!line.startsWith('data:')) continue;
          const data = line.slice(5).trim();
          if (data === '[DONE]') { done = true; continue; }
          let obj;
          try { obj = JSON.parse(data); } catch { throw new ApiError('http', 'The server sent something that is not JSON: ' + data.slice(0, 80)); }
          if (obj.error) throw new ApiError('http', 'The server stopped with an error: ' + (obj.error.message || JSON.stringify(obj.error)));
          onEvent(obj);
          if (isFinal && isFinal(obj)) done = true;
        }
      }
    }
  } finally {
    reader.releaseLock();
  }
  if (!done) throw new ApiError('network', 'The server closed the connection mid-answer; what arrived is kept.');
}

// Stop a running request on the server at once (POST /v1/requests/{id}/cancel).
export async function cancel(id) {
  try {
    await fetch('/v1/requests/' + encodeURIComponent(id) + '/cancel', { method: 'POST', headers: headers(false) });
  } catch { /* the stream's own abort still cancels it */ }
}

// Prometheus text -> { name: value } for the unlabelled samples.
export function parseMetrics(text) {
  const out = {};
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m && !m[2]) out[m[1]] = Number(m[3]);
  }
  return out;
}
