// stats.jsx — the live figures under every answer: time to first token,
// tokens per second, prompt tokens reused from the server's cache, and
// speculative drafts / predicted-output tokens accepted.

export function statsFrom({ ttft, usage, timings, finish, elapsed }) {
  const s = { finish: finish || null, ms: Math.round(elapsed) };
  if (ttft !== null && ttft !== undefined) s.ttft = Math.round(ttft);
  if (usage) {
    s.prompt = usage.prompt_tokens;
    s.cached = (usage.prompt_tokens_details && usage.prompt_tokens_details.cached_tokens) || 0;
    s.tokens = usage.completion_tokens;
    const d = usage.completion_tokens_details || {};
    if (d.accepted_prediction_tokens || d.rejected_prediction_tokens) {
      s.predAccepted = d.accepted_prediction_tokens || 0;
      s.predRejected = d.rejected_prediction_tokens || 0;
    }
  }
  if (timings) {
    if (timings.predicted_per_second) s.tps = Math.round(timings.predicted_per_second * 10) / 10;
    if (timings.draft_n) { s.drafted = timings.draft_n; s.draftAccepted = timings.draft_n_accepted || 0; }
  }
  return s;
}

export function Stats({ s }) {
  const parts = [];
  if (s.ttft !== undefined) parts.push(['ttft', `first token ${s.ttft} ms`]);
  if (s.tps) parts.push(['tps', `${s.tps} tok/s`]);
  if (s.tokens !== undefined) parts.push(['tokens', `${s.tokens} tokens`]);
  if (s.prompt !== undefined) parts.push(['cached', `${s.cached}/${s.prompt} prompt tokens cached`]);
  if (s.drafted) parts.push(['drafts', `drafts ${s.draftAccepted}/${s.drafted} accepted`]);
  if (s.predAccepted !== undefined) parts.push(['pred', `prediction ${s.predAccepted} accepted, ${s.predRejected} rejected`]);
  if (s.finish === 'stopped') parts.push(['finish', 'stopped']);
  else if (s.finish === 'length') parts.push(['finish', 'cut at max tokens']);
  return (
    <div class="stats" aria-label="Answer figures">
      {parts.map(([k, t]) => <span key={k} class={'stat ' + k} data-stat={k}>{t}</span>)}
    </div>
  );
}
