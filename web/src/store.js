// store.js — what the app keeps in the browser: conversations in IndexedDB
// (idb-keyval), settings in localStorage, the API key in sessionStorage only
// (gone when the browser session ends; never written anywhere else).
import { createStore, get, set, del, values } from 'idb-keyval';

const KEY = 'wafer.apiKey';
const SETTINGS = 'wafer.settings';

export const defaults = {
  system: '',
  temperature: 0.7,
  top_p: 0.95,
  max_tokens: 512,
  spec: 'server',      // 'server' (the server's --spec), 'lookup', 'none'
  theme: 'auto',       // 'auto', 'light', 'dark'
};

export function getKey() {
  try { return sessionStorage.getItem(KEY) || ''; } catch { return ''; }
}
export function setKey(k) {
  try { k ? sessionStorage.setItem(KEY, k) : sessionStorage.removeItem(KEY); } catch { /* private mode */ }
}

export function loadSettings() {
  try {
    const s = JSON.parse(localStorage.getItem(SETTINGS) || '{}');
    return { ...defaults, ...(s && typeof s === 'object' ? s : {}) };
  } catch {
    return { ...defaults };
  }
}
export function saveSettings(s) {
  try { localStorage.setItem(SETTINGS, JSON.stringify(s)); } catch { /* quota: keep in memory */ }
}

let db = null;
function store() {
  if (!db) db = createStore('wafer', 'conversations');
  return db;
}

export function newId() {
  return Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
}

export async function listConversations() {
  const all = await values(store());
  return all.filter(validConversation).sort((a, b) => b.updated - a.updated);
}
export const saveConversation = (c) => set(c.id, c, store());
export const deleteConversation = (id) => del(id, store());
export const loadConversation = (id) => get(id, store());

const ROLES = new Set(['user', 'assistant', 'system']);
export function validConversation(c) {
  return c && typeof c === 'object' && typeof c.id === 'string' && typeof c.title === 'string' &&
    Array.isArray(c.messages) &&
    c.messages.every((m) => m && ROLES.has(m.role) && typeof m.content === 'string');
}

// Export: {format, version, conversations}. Import checks every field and
// gives conversations whose id already exists a new one (nothing replaced).
export function exportJSON(convs) {
  return JSON.stringify({ format: 'wafer-conversations', version: 1, conversations: convs }, null, 2);
}
export async function importJSON(text) {
  let doc;
  try { doc = JSON.parse(text); } catch (e) { throw new Error('Not a JSON file: ' + e.message); }
  const list = Array.isArray(doc) ? doc : doc && doc.conversations;
  if (!Array.isArray(list)) throw new Error('No "conversations" array in the file.');
  const bad = list.findIndex((c) => !validConversation(c));
  if (bad >= 0) throw new Error(`Conversation ${bad + 1} is not valid (needs id, title and messages with role and content).`);
  const have = new Set((await listConversations()).map((c) => c.id));
  for (const c of list) {
    const conv = {
      id: have.has(c.id) ? newId() : c.id,
      title: c.title.slice(0, 200),
      created: Number(c.created) || Date.now(),
      updated: Number(c.updated) || Date.now(),
      messages: c.messages.map((m) => ({ role: m.role, content: m.content, ...(m.stats ? { stats: m.stats } : {}), ...(m.stopped ? { stopped: true } : {}) })),
    };
    await saveConversation(conv);
  }
  return list.length;
}
