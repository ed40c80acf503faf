// test_app.mjs — the app `wafer serve` serves at /, driven in headless
// Chromium (Debian's /usr/bin/chromium through playwright-core) against real
// servers started by test_app.py. Each check prints "ok - NAME" or throws.
//   node test_app.mjs '{"main": URL, "slow": URL, "auth": URL, "key": K, "doomed": URL, "doomedPid": N, "shots": DIR}'
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const cfg = JSON.parse(process.argv[2]);
const T0 = Date.now();
const ok = (name, extra = '') => console.log(`ok - ${name}${extra ? ' (' + extra + ')' : ''} [${((Date.now() - T0) / 1000).toFixed(1)} s]`);
function check(cond, msg) { if (!cond) throw new Error('FAILED: ' + msg); }
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function metrics(base) {
  const t = await (await fetch(base + '/metrics', { headers: cfg.key && base === cfg.auth ? { Authorization: 'Bearer ' + cfg.key } : {} })).text();
  const m = {};
  for (const l of t.split('\n')) { const r = /^(\w+) (\S+)$/.exec(l); if (r) m[r[1]] = Number(r[2]); }
  return m;
}

// ms: how long a check may take on an idle machine; only the spec's own
// limits (strict: Stop frees the slot within a second) are kept as they are,
// the others get SLACK times as long so a loaded machine does not fail them.
const SLACK = 4;
async function waitFor(fn, ms, what, strict = false) {
  const end = Date.now() + (strict ? ms : ms * SLACK);
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('FAILED: timed out waiting for ' + what);
    await sleep(25);
  }
}

const profile = mkdtempSync(join(tmpdir(), 'wafer-app-chromium-'));
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  viewport: { width: 1100, height: 680 },
  acceptDownloads: true,
  permissions: ['clipboard-read', 'clipboard-write'],
});
const consoleErrors = [];
const requests = [];
ctx.on('request', (r) => requests.push(r.url()));

async function openPage(base, { expectErrors = false } = {}) {
  const page = await ctx.newPage();
  page.on('console', (m) => { if (m.type() === 'error' && !expectErrors) consoleErrors.push(base + ': ' + m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(base + ': page error: ' + e.message));
  await page.goto(base + '/');
  return page;
}

// the last assistant message's text, and whether its figures are shown (answer over)
const lastAnswer = (page) => page.evaluate(() => {
  const a = [...document.querySelectorAll('#panel-chat .msg.assistant')].pop();
  if (!a) return null;
  const stats = {};
  a.querySelectorAll('[data-stat]').forEach((s) => { stats[s.dataset.stat] = s.textContent; });
  // done: the figures are shown and nothing streams any more
  return { text: a.querySelector('.body').textContent, done: !!a.querySelector('.stats') && !document.querySelector('#panel-chat button.stop'), stats,
    error: a.querySelector('.error') ? a.querySelector('.error').textContent : null };
});
const answers = (page) => page.locator('#panel-chat .msg.assistant').count();

async function send(page, text) {
  await page.fill('#prompt', text);
  await page.press('#prompt', 'Enter');
}

async function saveDialog(page) {
  await page.click('dialog[open] button:has-text("Save")');
  await page.waitForSelector('dialog[open]', { state: 'detached' });
}

// greedy (the synthetic model ends a turn only when sampling picks an end token) and long answers
async function setMaxTokens(page, n) {
  await page.click('button:has-text("Settings")');
  await page.fill('.dialog label:has-text("Max tokens") input', String(n));
  await page.fill('.dialog label:has-text("Temperature") input', '0');
  await saveDialog(page);
}

try {
  // ---- 1. loads cleanly, nothing leaves the machine ----------------------
  const main = await openPage(cfg.main);
  await waitFor(() => main.locator('.model').textContent(), 5000, 'the model name from /props');
  ok('page loads, /props read', await main.locator('.model').textContent());
  await main.click('.server-panel summary');
  const panel = await waitFor(async () => { const t = await main.locator('.server-panel dl').innerText(); return /slots busy\s+0 of 2/.test(t) && t; }, 5000, 'the server panel');
  check(/context per slot\s+16384/.test(panel) && /queue depth\s+0/.test(panel), 'server panel: ' + panel);
  await main.click('.server-panel summary');
  ok('server panel: model, context per slot, slots busy, queue depth');
  await main.click('button:has-text("Settings")');
  await main.selectOption('.dialog label:has-text("Theme") select', 'dark');
  await saveDialog(main);
  const bg = await main.evaluate(() => [document.documentElement.dataset.theme, getComputedStyle(document.body).backgroundColor]);
  check(bg[0] === 'dark' && bg[1] === 'rgb(15, 18, 22)', 'dark theme: ' + bg);
  await main.click('button:has-text("Settings")');
  await main.selectOption('.dialog label:has-text("Theme") select', 'light');
  await saveDialog(main);
  ok('themes: dark and light');

  // ---- 2. chat on the embedded model: an answer with its figures --------
  await send(main, 'def add(a, b):');
  const a1 = await waitFor(async () => { const a = await lastAnswer(main); return a && a.done && a; }, 10000, 'the first answer');
  check(a1.text.length > 0, 'the answer is empty');
  check(a1.stats.ttft && /first token \d+ ms/.test(a1.stats.ttft), 'no time to first token: ' + JSON.stringify(a1.stats));
  check(a1.stats.tps && /tok\/s/.test(a1.stats.tps), 'no tok/s');
  check(a1.stats.cached !== undefined, 'no cached-tokens figure');
  ok('chat answer with figures', Object.values(a1.stats).join(', '));
  // code blocks get a copy button and highlighting (markdown typed by the test itself: the model writes no fences)
  await main.click('.msg-actions button:has-text("Edit")');
  await main.fill('.edit-msg textarea', 'Show:\n```python\ndef f(x):\n    return x + 1\n```');
  await main.press('.edit-msg textarea', 'Enter');
  await waitFor(async () => { const a = await lastAnswer(main); return a && a.done; }, 10000, 'the answer after the edited message');
  check(await main.locator('#panel-chat .msg.user').count() === 1, 'editing the message should replace the turn, not add one');
  check((await main.locator('#panel-chat .msg.user .body').textContent()).startsWith('Show:'), 'edited message not shown');
  ok('edit an earlier message and continue from there');
  const block = await main.evaluate(() => {
    const c = document.querySelector('#panel-chat .msg.user .code');
    return c && { copy: !!c.querySelector('button[data-copy]'), kw: [...c.querySelectorAll('.tok-keyword')].map((x) => x.textContent) };
  });
  check(block && block.copy && block.kw.includes('def') && block.kw.includes('return'), 'no highlighted code block with a copy button: ' + JSON.stringify(block));
  await main.click('#panel-chat .msg.user .code button[data-copy]');
  const clip = await waitFor(() => main.evaluate(() => navigator.clipboard.readText()), 2000, 'the clipboard');
  check(clip === 'def f(x):\n    return x + 1', 'copied ' + JSON.stringify(clip));
  ok('code blocks: highlighted, the copy button copies the code');
  await main.click('button:has-text("Regenerate")');
  await waitFor(async () => { const a = await lastAnswer(main); return a && a.done; }, 10000, 'the regenerated answer');
  check(await answers(main) === 1, 'regenerate should replace the answer');
  ok('regenerate');
  if (cfg.shots) await main.screenshot({ path: join(cfg.shots, 'app-chat.png') });

  // ---- 3. conversations kept in the browser ------------------------------
  await main.reload();
  await waitFor(() => main.locator('.convs li').count(), 5000, 'the saved conversation in the list');
  await main.click('.convs .conv-open');
  check((await main.locator('#panel-chat .msg.user .body').textContent()).startsWith('Show:'), 'reopened conversation differs');
  const dl = main.waitForEvent('download');
  await main.click('button:has-text("Export JSON")');
  const exported = await (await dl).path();
  check(exported, 'no export file');
  const fs = await import('node:fs');
  const doc = JSON.parse(fs.readFileSync(exported, 'utf8'));
  check(doc.format === 'wafer-conversations' && doc.conversations.length === 1, 'export: ' + JSON.stringify(doc).slice(0, 200));
  await main.setInputFiles('.side-foot input[type=file]', { name: 'bad.json', mimeType: 'application/json', buffer: Buffer.from('{"conversations": [{"id": 1}]}') });
  await waitFor(() => main.locator('.notice:has-text("Import failed")').count(), 3000, 'the import error');
  await main.setInputFiles('.side-foot input[type=file]', { name: 'conv.json', mimeType: 'application/json', buffer: fs.readFileSync(exported) });
  await waitFor(async () => (await main.locator('.convs li').count()) === 2, 3000, 'the imported conversation');
  ok('conversations: saved, reopened, exported, bad import refused, import');
  await main.locator('.convs li').first().locator('button[title=Rename]').click();
  await main.fill('.convs input', 'Renamed chat');
  await main.press('.convs input', 'Enter');
  await waitFor(() => main.locator('.convs button:has-text("Renamed chat")').count(), 3000, 'the renamed title');
  main.once('dialog', (d) => d.accept());
  await main.locator('.convs li').first().locator('button[title=Delete]').click();
  await waitFor(async () => (await main.locator('.convs li').count()) === 1, 3000, 'the deleted conversation gone');
  ok('rename and delete');

  // ---- 4. edit mode: raw edit format, prediction, diff ---------------------
  await main.click('#tab-edit');
  await main.click('button:has-text("Rewrite")');
  const editDone = await waitFor(() => main.evaluate(() => {
    const s = document.querySelector('#panel-edit .stats');
    return s && s.textContent;
  }), 20000, 'the edit to finish');
  const rows = await main.evaluate(() => ({ add: document.querySelectorAll('#panel-edit .dl.add').length, del: document.querySelectorAll('#panel-edit .dl.del').length }));
  const pred = /prediction (\d+) accepted, (\d+) rejected/.exec(editDone);
  check(pred && Number(pred[1]) > 0, 'no accepted prediction tokens: ' + editDone);
  check(rows.add + rows.del > 0, 'the diff shows no change');
  ok('edit: diff and prediction figures', `${rows.add} added, ${rows.del} removed lines; ${pred[0]}`);
  if (cfg.shots) await main.screenshot({ path: join(cfg.shots, 'app-edit.png') });

  // ---- 5. complete mode: ghost text, Tab accepts, Esc dismisses ----------
  await main.click('#tab-complete');
  await main.click('.complete-editor .cm-content');
  await main.keyboard.press('Control+End');
  await main.keyboard.type('if n < 2:');
  const ghost = await waitFor(() => main.evaluate(() => { const g = document.querySelector('.cm-ghost'); return g && g.textContent; }), 5000, 'ghost text');
  if (cfg.shots) await main.screenshot({ path: join(cfg.shots, 'app-complete.png') });
  await main.keyboard.press('Tab');
  await waitFor(async () => (await main.locator('.cm-ghost').count()) === 0, 2000, 'the ghost text to go');
  const doc2 = await main.evaluate(() => document.querySelector('.complete-editor').editorView.state.doc.toString());
  check(doc2.endsWith('if n < 2:' + ghost) || doc2.includes('if n < 2:' + ghost), 'Tab did not insert the suggestion: ' + JSON.stringify({ ghost: ghost.slice(0, 30), mid: doc2.slice(120, 200), at: doc2.indexOf('if n < 2:'), after: doc2.slice(doc2.indexOf('if n < 2:'), doc2.indexOf('if n < 2:') + 60), len: doc2.length, glen: ghost.length }));
  ok('complete: ghost text after a pause, Tab inserts it', JSON.stringify(ghost.slice(0, 40)));
  await main.keyboard.type('\n');
  await waitFor(() => main.locator('.cm-ghost').count(), 5000, 'a second ghost text');
  const lenBefore = doc2.length + 1;
  await main.keyboard.press('Escape');
  await waitFor(async () => (await main.locator('.cm-ghost').count()) === 0, 2000, 'Esc to dismiss');
  const doc3 = await main.evaluate(() => document.querySelector('.complete-editor').editorView.state.doc.toString());
  check(doc3.length >= lenBefore - 1 && doc3.length <= lenBefore + 8, 'Esc changed the text');
  ok('complete: Esc dismisses');

  // ---- settings reach the request ---------------------------------------
  await main.click('#tab-chat');
  await main.click('button:has-text("New chat")');
  await main.click('button:has-text("Settings")');
  await main.fill('.dialog label:has-text("System prompt") textarea', 'Answer in Python.');
  await main.fill('.dialog label:has-text("Temperature") input', '0.3');
  await main.fill('.dialog label:has-text("Top-p") input', '0.9');
  await main.fill('.dialog label:has-text("Max tokens") input', '64');
  await main.selectOption('.dialog label:has-text("Speculative") select', 'lookup');
  await saveDialog(main);
  const sent = main.waitForRequest((r) => r.url().endsWith('/v1/chat/completions'));
  await send(main, 'for i in range(10): print(i)\nfor i in range(10): print(i)');
  const body = JSON.parse((await sent).postData());
  check(body.messages[0].role === 'system' && body.messages[0].content === 'Answer in Python.' && body.temperature === 0.3 &&
    body.top_p === 0.9 && body.max_tokens === 64 && body.speculative === 'lookup' && body.stream === true,
    'settings not in the request: ' + JSON.stringify(body).slice(0, 300));
  const a8 = await waitFor(async () => { const a = await lastAnswer(main); return a && a.done && a; }, 10000, 'the answer with settings');
  check(Number((/(\d+) tokens/.exec(a8.stats.tokens) || [])[1]) <= 64, 'max tokens not honoured: ' + a8.stats.tokens);
  ok('settings: system prompt, sampling, max tokens, speculative mode sent', a8.stats.drafts || 'no drafts this time');

  // the normal flows above logged nothing; the faults below make Chromium log
  // their 4xx answers ("Failed to load resource"), which is all they may log
  check(consoleErrors.length === 0, 'console errors: ' + consoleErrors.join('\n'));
  ok('chat, edit and complete without console errors');

  // ---- 6. too long a prompt: a clear message, nothing lost ---------------
  await main.click('#tab-chat');
  await main.click('button:has-text("New chat")');
  const long = Array.from({ length: 9000 }, (_, i) => 'word' + i).join(' ');  // past the 16,384-token context
  await send(main, long);
  const e1 = await waitFor(async () => { const a = await lastAnswer(main); return a && a.error; }, 5000, 'the context error');
  check(/Too long/.test(e1), 'unclear error: ' + e1);
  check((await main.locator('#panel-chat .msg.user .body').last().textContent()).trim() === long, 'the long message was lost');
  ok('over-long prompt: message shown, text kept', e1.slice(0, 60));

  // ---- 7. streaming, Stop, steering on the slow model --------------------
  const slow = await openPage(cfg.slow, { expectErrors: true });
  await waitFor(() => slow.locator('.model').textContent(), 5000, 'the slow server');
  await setMaxTokens(slow, 3000);
  await send(slow, 'Tell me a long story.');
  const seen = new Set();
  await waitFor(async () => { const a = await lastAnswer(slow); if (a && a.text) seen.add(a.text.length); return seen.size >= 5; }, 10000, 'the answer to grow');
  check(await slow.locator('button.stop').isVisible(), 'no Stop button while streaming');
  ok('the answer streams', `${seen.size} lengths seen`);
  await slow.click('button.stop');
  const tStop = Date.now();
  await waitFor(async () => (await metrics(cfg.slow)).wafer_slots_busy === 0, 1000, 'no busy slot within a second of Stop', true);
  const stopMs = Date.now() - tStop;
  const s1 = await waitFor(async () => { const a = await lastAnswer(slow); return a && a.done && a; }, 3000, 'the stopped answer');
  check(s1.stats.finish === 'stopped' && s1.text.length > 0, 'the partial answer is not kept as stopped');
  await sleep(200);
  check((await lastAnswer(slow)).text === s1.text, 'text kept arriving after Stop');
  ok('Stop ends the generation on the server', `slot free after ${stopMs} ms`);

  // steering: a message sent while an answer streams stops it and redirects
  await send(slow, 'Another story, please.');
  await waitFor(async () => { const a = await lastAnswer(slow); return a && a.text.length > 40; }, 10000, 'the second answer');
  await send(slow, 'Shorter!');
  await waitFor(async () => (await answers(slow)) === 3 && (await lastAnswer(slow)).text.length > 10, 10000, 'the redirected answer');
  const steered = await slow.evaluate(() => [...document.querySelectorAll('#panel-chat .msg.assistant')].map((a) => a.querySelector('[data-stat=finish]') && a.querySelector('[data-stat=finish]').textContent));
  check(steered[1] === 'stopped', 'the redirected answer was not stopped and kept');
  await slow.keyboard.press('Escape');
  const s3 = await waitFor(async () => { const a = await lastAnswer(slow); return a && a.done && a; }, 3000, 'Esc to stop the redirected answer');
  const m = /(\d+)\/(\d+) prompt tokens cached/.exec(s3.stats.cached || '');
  check(m && Number(m[1]) > 0, 'the redirected answer reused no cache: ' + JSON.stringify(s3.stats));
  ok('steering: the new answer reuses the cache', s3.stats.cached);

  // 429: the slot and queue (--parallel 1 --queue 0) held by another client
  await waitFor(async () => (await metrics(cfg.slow)).wafer_slots_busy === 0, 3000, 'the stopped answer to free its slot');
  const hold = new AbortController();
  const held = await fetch(cfg.slow + '/v1/chat/completions', { method: 'POST', signal: hold.signal, headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'x' }], max_tokens: 3000, temperature: 0, stream: true }) });
  check(held.status === 200, 'the other client was refused: ' + held.status);
  const holding = (async () => { const rd = held.body.getReader(); while (!(await rd.read()).done); })().catch(() => {});
  await waitFor(async () => (await metrics(cfg.slow)).wafer_slots_busy === 1, 3000, 'the other client to hold the slot');
  await send(slow, 'Are you there?');
  const e2 = await waitFor(async () => { const a = await lastAnswer(slow); return a && a.error; }, 5000, 'the 429 message');
  check(/busy/.test(e2), 'unclear 429 message: ' + e2);
  hold.abort();
  await holding;
  await waitFor(async () => (await metrics(cfg.slow)).wafer_slots_busy === 0, 3000, 'the slot to be free');
  await slow.click('.error button:has-text("Retry")');
  await waitFor(async () => { const a = await lastAnswer(slow); return a && a.text.length > 5 && !a.error; }, 5000, 'the retried answer');
  await slow.keyboard.press('Escape');
  check((await slow.locator('#panel-chat .msg.user .body').last().textContent()).trim() === 'Are you there?', 'the message was lost');
  ok('429: message shown, Retry works once the slot is free', e2.slice(0, 50));

  // edit with a chat-template model: wafer edit's messages, the fenced file as the prediction; Stop
  await waitFor(async () => (await metrics(cfg.slow)).wafer_slots_busy === 0, 3000, 'a free slot for the edit');
  await slow.click('#tab-edit');
  const editReq = slow.waitForRequest((r) => r.url().endsWith('/v1/chat/completions'));
  await slow.click('button:has-text("Rewrite")');
  const eb = JSON.parse((await editReq).postData());
  check(eb.messages.length === 2 && eb.messages[0].role === 'system' && eb.messages[1].content.startsWith('rename load_cfg to load_config\n\nFile: config.py\n```python\nimport json') &&
    eb.prediction.type === 'content' && eb.prediction.content.startsWith('```python\nimport json\n') && eb.prediction.content.endsWith('MAX_RETRIES = 3\n```\n'),
    'the chat edit request: ' + JSON.stringify(eb).slice(0, 400));
  await waitFor(() => slow.locator('#panel-edit .dl.add').count(), 10000, 'written lines in the live diff');
  await slow.click('#panel-edit button.stop');
  const es = await waitFor(() => slow.evaluate(() => { const x = document.querySelector('#panel-edit .stats'); return x && x.textContent; }), 3000, 'the stopped edit');
  check(/stopped/.test(es), 'the edit was not stopped: ' + es);
  await waitFor(async () => (await metrics(cfg.slow)).wafer_slots_busy === 0, 1000, 'no busy slot within a second of the edit\'s Stop', true);
  ok('edit with a chat template: prompt and fenced prediction, live diff, Stop', es);
  await slow.close();

  // ---- 8. the server goes away mid-answer ---------------------------------
  const doomed = await openPage(cfg.doomed, { expectErrors: true });
  await waitFor(() => doomed.locator('.model').textContent(), 5000, 'the doomed server');
  await setMaxTokens(doomed, 3000);
  await send(doomed, 'Keep talking.');
  await waitFor(async () => { const a = await lastAnswer(doomed); return a && a.text.length > 20; }, 10000, 'an answer on the doomed server');
  process.kill(cfg.doomedPid, 'SIGKILL');
  const e3 = await waitFor(async () => { const a = await lastAnswer(doomed); return a && a.error && a; }, 5000, 'the lost-connection message');
  check(/lost|closed|reach/.test(e3.error) && e3.text.length > 20, 'unclear message or answer lost: ' + e3.error);
  ok('server gone mid-answer: message shown, partial answer kept', e3.error.slice(0, 60));
  await doomed.close();

  // ---- 9. the API key: asked once, kept for the session only ------------
  const auth = await openPage(cfg.auth, { expectErrors: true });
  await waitFor(() => auth.locator('#api-key').isVisible(), 5000, 'the API-key prompt');
  await auth.fill('#api-key', 'wrong-key');
  await auth.press('#api-key', 'Enter');
  await waitFor(() => auth.locator('.dialog:has-text("did not accept")').isVisible(), 5000, 'the wrong-key message');
  await auth.fill('#api-key', cfg.key);
  await auth.press('#api-key', 'Enter');
  await waitFor(() => auth.locator('.model').textContent(), 5000, 'the model name with the key');
  await send(auth, 'def main():');
  const a9 = await waitFor(async () => { const a = await lastAnswer(auth); return a && a.done && a; }, 10000, 'an answer with the key');
  check(!a9.error, 'error with the key: ' + a9.error);
  const where = await auth.evaluate((k) => ({ session: sessionStorage.getItem('wafer.apiKey') === k,
    local: Object.keys(localStorage).some((x) => (localStorage.getItem(x) || '').includes(k)) }), cfg.key);
  check(where.session && !where.local, 'the key is not kept in sessionStorage only: ' + JSON.stringify(where));
  await auth.reload();
  await waitFor(() => auth.locator('.model').textContent(), 5000, 'the model name after a reload (key kept)');
  check(!(await auth.locator('#api-key').isVisible()), 'asked for the key again within the session');
  ok('API key: asked, wrong key refused, kept in sessionStorage only, not asked again');
  await auth.close();

  // ---- 10. phone-sized window --------------------------------------------
  await main.setViewportSize({ width: 390, height: 760 });
  await main.click('#tab-chat');
  const wide = await main.evaluate(() => document.documentElement.scrollWidth);
  check(wide <= 392, 'the page scrolls sideways on a phone-sized window: ' + wide);
  await main.click('.side-toggle');
  check(await main.locator('.side.open').isVisible(), 'the conversation list does not open');
  ok('phone-sized window: no sideways scroll, conversation list toggles');

  // ---- everything stayed on this machine, without console errors --------
  const origins = new Set([cfg.main, cfg.slow, cfg.auth, cfg.doomed].map((u) => new URL(u).origin));
  const outside = requests.filter((u) => !u.startsWith('blob:') && !u.startsWith('data:') && !origins.has(new URL(u).origin));
  check(outside.length === 0, 'requests left the machine: ' + outside.join(' '));
  const unexpected = consoleErrors.filter((e) => !/Failed to load resource: the server responded with a status of (400|429) /.test(e));
  check(unexpected.length === 0, 'console errors: ' + unexpected.join('\n'));
  ok('every request went to the servers; no console errors but the 400 and 429 provoked', `${requests.length} requests`);
} catch (e) {
  // what the pages showed, for the log
  for (const p of ctx.pages()) {
    const text = await p.evaluate(() => document.body.innerText.slice(-1500)).catch(() => '');
    console.log('--- page ' + p.url() + '\n' + text);
  }
  throw e;
} finally {
  await ctx.close();
  rmSync(profile, { recursive: true, force: true });
}
