// editor.js — CodeMirror 6 editors for the Edit and Complete modes: line
// numbers, undo history, bracket matching, the language's syntax
// highlighting (the same Lezer parsers and CSS classes as the chat's code
// blocks), and Tab indenting unless a mode's own keymap takes it first.
import { EditorState, Compartment } from '@codemirror/state';
import { EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter, drawSelection } from '@codemirror/view';
import { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';
import { syntaxHighlighting, indentOnInput, bracketMatching, LanguageSupport } from '@codemirror/language';
import { classHighlighter } from '@lezer/highlight';
import { languageFor } from './markdown.js';

export const LANG_NAMES = ['python', 'javascript', 'typescript', 'c', 'cpp', 'rust', 'go', 'java', 'json', 'text'];

export function langExtension(name) {
  const l = languageFor(name);
  return l ? new LanguageSupport(l) : [];
}

const EXT = { py: 'python', js: 'javascript', mjs: 'javascript', jsx: 'javascript', ts: 'typescript', tsx: 'typescript',
  c: 'c', h: 'c', cc: 'cpp', cpp: 'cpp', hpp: 'cpp', rs: 'rust', go: 'go', java: 'java', json: 'json' };
export function langOfFile(name) {
  const m = /\.([a-z0-9]+)$/i.exec(name || '');
  return (m && EXT[m[1].toLowerCase()]) || 'text';
}

// parent: element; opts: {doc, lang, label, extensions (before the defaults), onChange(view)}
export function makeEditor(parent, opts) {
  const lang = new Compartment();
  const extra = opts.extensions || [];
  const state = EditorState.create({
    doc: opts.doc || '',
    extensions: [
      ...extra,
      lineNumbers(), highlightActiveLineGutter(), highlightActiveLine(), drawSelection(),
      history(), indentOnInput(), bracketMatching(),
      syntaxHighlighting(classHighlighter),
      keymap.of([...defaultKeymap, ...historyKeymap, indentWithTab]),
      lang.of(langExtension(opts.lang)),
      EditorView.lineWrapping,
      EditorView.contentAttributes.of({ 'aria-label': opts.label || 'Code editor' }),
      EditorView.updateListener.of((u) => { if (u.docChanged && opts.onChange) opts.onChange(u.view); }),
    ],
  });
  const view = new EditorView({ state, parent });
  view.setLanguage = (name) => view.dispatch({ effects: lang.reconfigure(langExtension(name)) });
  return view;
}
