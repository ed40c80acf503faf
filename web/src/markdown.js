// markdown.js — an answer's markdown to safe HTML: marked parses, code
// blocks are highlighted with the same Lezer parsers the editor uses
// (@lezer/highlight's highlightCode) and get a copy button, DOMPurify
// removes anything a model could inject (scripts, handlers, javascript: URLs).
import { Marked } from 'marked';
import DOMPurify from 'dompurify';
import { highlightCode, classHighlighter } from '@lezer/highlight';
import { pythonLanguage } from '@codemirror/lang-python';
import { javascriptLanguage, typescriptLanguage, jsxLanguage, tsxLanguage } from '@codemirror/lang-javascript';
import { cppLanguage } from '@codemirror/lang-cpp';
import { rustLanguage } from '@codemirror/lang-rust';
import { jsonLanguage } from '@codemirror/lang-json';
import { goLanguage } from '@codemirror/lang-go';
import { javaLanguage } from '@codemirror/lang-java';

const LANGS = {
  python: pythonLanguage, py: pythonLanguage,
  javascript: javascriptLanguage, js: javascriptLanguage, mjs: javascriptLanguage,
  typescript: typescriptLanguage, ts: typescriptLanguage, jsx: jsxLanguage, tsx: tsxLanguage,
  c: cppLanguage, h: cppLanguage, cpp: cppLanguage, 'c++': cppLanguage, cc: cppLanguage, hpp: cppLanguage,
  rust: rustLanguage, rs: rustLanguage,
  json: jsonLanguage,
  go: goLanguage, golang: goLanguage,
  java: javaLanguage,
};

export function languageFor(name) {
  return LANGS[(name || '').toLowerCase()] || null;
}

const esc = (s) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));

export function highlight(code, lang) {
  const l = languageFor(lang);
  if (!l) return esc(code);
  let out = '';
  highlightCode(code, l.parser.parse(code), classHighlighter,
    (text, classes) => { out += classes ? `<span class="${classes}">${esc(text)}</span>` : esc(text); },
    () => { out += '\n'; });
  return out;
}

const marked = new Marked({
  gfm: true,
  breaks: false,
  renderer: {
    code({ text, lang }) {
      const name = (lang || '').trim().split(/\s+/)[0];
      return `<div class="code"><div class="code-head"><span>${esc(name || 'text')}</span>` +
        `<button type="button" class="copy" data-copy="1" aria-label="Copy code">Copy</button></div>` +
        `<pre><code>${highlight(text, name)}</code></pre></div>`;
    },
  },
});

// Rendered messages by text: while an answer streams only its own text
// changes, so the other messages are not parsed again every frame.
const cache = new Map();
const CACHE_MAX = 500;

// keep: false for the text still streaming (it changes every frame)
export function renderMarkdown(src, keep = true) {
  let html = cache.get(src);
  if (html !== undefined) return html;
  html = DOMPurify.sanitize(marked.parse(src, { async: false }),
    { ADD_ATTR: ['data-copy'], FORBID_TAGS: ['style', 'form', 'input'], FORBID_ATTR: ['style'] });
  if (!keep) return html;
  if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value);
  cache.set(src, html);
  return html;
}

// Copy buttons: one listener on a container (the HTML is replaced while it streams).
export async function onCopyClick(ev) {
  const b = ev.target.closest && ev.target.closest('button[data-copy]');
  if (!b) return;
  const code = b.closest('.code').querySelector('pre').textContent;
  await copyText(code);
  b.textContent = 'Copied';
  setTimeout(() => { b.textContent = 'Copy'; }, 1200);
}

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // no clipboard permission (plain http on another host): the textarea way
    const t = document.createElement('textarea');
    t.value = text;
    document.body.appendChild(t);
    t.select();
    document.execCommand('copy');
    t.remove();
  }
}
