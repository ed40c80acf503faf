// server.jsx — the server panel: model, context per slot and slots from
// GET /props, slots busy, queue depth and totals from GET /metrics
// (Prometheus text), refreshed every 2 s while the page is visible.
import { useEffect, useState } from 'preact/hooks';
import { getJSON, getText, parseMetrics } from './api.js';

export function useServer(keyVersion, onAuth) {
  const [props, setProps] = useState(null);
  const [metrics, setMetrics] = useState(null);
  const [error, setError] = useState('');
  useEffect(() => {
    let stop = false, timer = 0;
    const tick = async () => {
      if (!document.hidden) {
        try {
          const p = props || await getJSON('/props');
          if (stop) return;
          setProps(p);
          setMetrics(parseMetrics(await getText('/metrics')));
          setError('');
        } catch (e) {
          if (stop) return;
          setError(e.message);
          if (e.kind === 'auth') { onAuth(); return; }   // polling resumes once a key is given
        }
      }
      if (!stop) timer = setTimeout(tick, 2000);
    };
    tick();
    return () => { stop = true; clearTimeout(timer); };
  }, [keyVersion]);
  return { props, metrics, error };
}

export function ServerPanel({ server }) {
  const { props, metrics, error } = server;
  const g = props && props.default_generation_settings;
  const m = metrics || {};
  const row = (k, v) => <><dt>{k}</dt><dd>{v === undefined || v === null ? '—' : v}</dd></>;
  return (
    <details class="server-panel">
      <summary>Server</summary>
      {error && <p class="error" role="alert">{error}</p>}
      <dl>
        {row('model', props && (props.model_alias || (g && g.model)))}
        {row('context per slot', g && g.n_ctx)}
        {row('slots busy', metrics && `${m.wafer_slots_busy} of ${m.wafer_slots_total}`)}
        {row('queue depth', m.wafer_queue_depth)}
        {row('tokens generated', m.wafer_generated_tokens_total)}
        {row('prompt tokens cached', metrics && `${m.wafer_prompt_tokens_cached_total} of ${m.wafer_prompt_tokens_total}`)}
        {row('drafts accepted', metrics && `${m.wafer_spec_accepted_tokens_total} of ${m.wafer_spec_draft_tokens_total}`)}
        {row('requests cancelled', m.wafer_requests_cancelled_total)}
        {row('build', props && props.build_info)}
      </dl>
    </details>
  );
}
