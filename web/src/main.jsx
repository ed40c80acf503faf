// main.jsx — the app's frame: the three modes as tabs, the server panel,
// settings, the API-key prompt, the theme and the global shortcuts.
import { render } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { Chat } from './chat.jsx';
import { Edit } from './edit.jsx';
import { Complete } from './complete.jsx';
import { ServerPanel, useServer } from './server.jsx';
import { SettingsDialog, KeyDialog, HelpDialog } from './dialogs.jsx';
import { loadSettings, saveSettings, setKey, getKey } from './store.js';

const MODES = [['chat', 'Chat'], ['edit', 'Edit'], ['complete', 'Complete']];

function App() {
  const [mode, setMode] = useState('chat');
  const [settings, setSettings] = useState(loadSettings);
  const [showSettings, setShowSettings] = useState(false);
  const [showHelp, setShowHelp] = useState(false);
  const [keyAsk, setKeyAsk] = useState(false);
  const [keyWrong, setKeyWrong] = useState(false);
  const [keyVersion, setKeyVersion] = useState(0);
  const onAuth = useCallback(() => { setKeyWrong(!!getKey()); setKeyAsk(true); }, []);
  const server = useServer(keyVersion, onAuth);

  useEffect(() => {
    const t = settings.theme;
    if (t === 'auto') delete document.documentElement.dataset.theme;
    else document.documentElement.dataset.theme = t;
  }, [settings.theme]);

  useEffect(() => {
    const onKey = (e) => {
      if (e.altKey && ['1', '2', '3'].includes(e.key)) { e.preventDefault(); setMode(MODES[Number(e.key) - 1][0]); }
      const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName) || e.target.isContentEditable;
      if (e.key === '?' && !typing) { e.preventDefault(); setShowHelp(true); }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  const onTabKey = (e) => {
    const i = MODES.findIndex(([m]) => m === mode);
    const d = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0;
    if (!d) return;
    const next = MODES[(i + d + MODES.length) % MODES.length][0];
    setMode(next);
    document.getElementById('tab-' + next).focus();
  };

  const props = server.props;
  return (
    <div class="app">
      <header class="top">
        <h1 class="brand">wafer</h1>
        <nav role="tablist" aria-label="Mode" onKeyDown={onTabKey}>
          {MODES.map(([m, label], i) => (
            <button key={m} id={'tab-' + m} role="tab" type="button" aria-selected={mode === m} aria-controls={'panel-' + m}
              tabIndex={mode === m ? 0 : -1} title={`${label} (Alt+${i + 1})`} onClick={() => setMode(m)}>{label}</button>
          ))}
        </nav>
        <span class="model" title="Model served">{props ? props.model_alias : ''}</span>
        <ServerPanel server={server} />
        <button type="button" class="icon" aria-label="Keyboard shortcuts" title="Keyboard shortcuts (?)" onClick={() => setShowHelp(true)}>?</button>
        <button type="button" onClick={() => setShowSettings(true)}>Settings</button>
      </header>
      <main>
        {MODES.map(([m]) => (
          <div key={m} id={'panel-' + m} role="tabpanel" aria-labelledby={'tab-' + m} class="panel" hidden={mode !== m}>
            {m === 'chat' && <Chat settings={settings} onAuth={onAuth} active={mode === 'chat'} />}
            {m === 'edit' && <Edit settings={settings} onAuth={onAuth} />}
            {m === 'complete' && <Complete settings={settings} onAuth={onAuth} />}
          </div>
        ))}
      </main>
      <SettingsDialog open={showSettings} settings={settings} onClose={() => setShowSettings(false)}
        onSave={(s) => { setSettings(s); saveSettings(s); setShowSettings(false); }} />
      <KeyDialog open={keyAsk} wrong={keyWrong} onClose={() => setKeyAsk(false)}
        onSave={(k) => { setKey(k); setKeyAsk(false); setKeyWrong(false); setKeyVersion((v) => v + 1); }} />
      <HelpDialog open={showHelp} onClose={() => setShowHelp(false)} />
    </div>
  );
}

render(<App />, document.getElementById('app'));
