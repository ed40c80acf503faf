// test_server_openai.mjs — `wafer serve` driven by the official, unmodified
// OpenAI SDK for JavaScript (npm `openai`, pinned in tests/server-node).
// Started by tests/serve/test_server.py with the servers' URLs:
//   node test_server_openai.mjs MAIN_URL AUTH_URL AUTH_KEY BUSY_URL TOOL_URL
// MAIN: the synthetic model, default options. AUTH: --api-key AUTH_KEY.
// BUSY: --parallel 1 --queue 0 on the slower model. TOOL: a model whose
// greedy answer is a tool call.
// Checks the protocol as the SDK sees it; prints one JSON line per result
// ("RESULT {...}") for the Python side to check the numbers against the
// numpy reference, "ok ..." / "FAIL ..." per check; exit 1 on any failure.
import OpenAI from "openai";

const [MAIN, AUTH, KEY, BUSY, TOOL] = process.argv.slice(2);
let failures = 0;
const check = (cond, msg) => {
  console.log((cond ? "ok   " : "FAIL ") + msg);
  if (!cond) failures++;
};
const result = (name, value) => console.log("RESULT " + JSON.stringify({ name, value }));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function metrics(base) {
  const r = await fetch(base.replace(/\/v1$/, "") + "/metrics");
  const out = {};
  for (const line of (await r.text()).split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    out[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return out;
}

const main = new OpenAI({ baseURL: MAIN + "/v1", apiKey: "unused", maxRetries: 0, timeout: 60000 });
const MSGS = [
  { role: "system", content: "You are terse." },
  { role: "user", content: [{ type: "text", text: "Write a " }, { type: "text", text: "function." }] },
];

// ---- chat, non-streaming and streaming ----
const N = 24;
const c1 = await main.chat.completions.create({ model: "m", messages: MSGS, max_tokens: N, temperature: 0 });
check(c1.object === "chat.completion" && c1.id.startsWith("chatcmpl-"), `chat object ${c1.object} id ${c1.id}`);
check(c1.choices.length === 1 && c1.choices[0].message.role === "assistant", "one assistant choice");
const a1 = c1.choices[0].message.content;
check(typeof a1 === "string" && a1.length > 0, `content is a non-empty string (${JSON.stringify(a1)})`);
check(c1.choices[0].finish_reason === "length", `finish_reason length (${c1.choices[0].finish_reason})`);
check(c1.usage.completion_tokens === N, `usage.completion_tokens ${c1.usage.completion_tokens} == ${N}`);
check(c1.usage.prompt_tokens > 10 && c1.usage.total_tokens === c1.usage.prompt_tokens + N, "prompt/total tokens");
check(typeof c1.usage.prompt_tokens_details.cached_tokens === "number", "usage.prompt_tokens_details.cached_tokens");
result("chat", { content: a1, usage: c1.usage });

const chunks = [];
const stream = await main.chat.completions.create({
  model: "m", messages: MSGS, max_tokens: N, temperature: 0, stream: true, stream_options: { include_usage: true },
});
for await (const ch of stream) chunks.push(ch);
check(chunks.length >= 4, `stream: ${chunks.length} chunks`);
check(chunks.every((c) => c.object === "chat.completion.chunk" && c.id === chunks[0].id), "chunk objects, one id");
check(chunks[0].choices[0].delta.role === "assistant", "first delta has role assistant");
const text = chunks.filter((c) => c.choices.length).map((c) => c.choices[0].delta.content ?? "").join("");
check(text === a1, `streamed text equals the non-streamed answer (${JSON.stringify(text)})`);
const fin = chunks.filter((c) => c.choices.length && c.choices[0].finish_reason);
check(fin.length === 1 && fin[0].choices[0].finish_reason === "length", "exactly one chunk with finish_reason length");
const last = chunks[chunks.length - 1];
check(last.choices.length === 0 && last.usage && last.usage.completion_tokens === N, "last chunk: usage, no choices");
check(last.usage.prompt_tokens_details.cached_tokens >= c1.usage.prompt_tokens - 1,
  `second identical prompt is cached (${last.usage.prompt_tokens_details.cached_tokens} of ${last.usage.prompt_tokens})`);
check(chunks.slice(0, -1).every((c) => c.usage === null), "usage: null on the other chunks (include_usage)");

// ---- completions with suffix (fill in the middle) and echo ----
const fim = await main.completions.create({ model: "m", prompt: "def add(a, b):\n    return ", suffix: "\n\nprint(add(1, 2))\n", max_tokens: 12, temperature: 0 });
check(fim.object === "text_completion" && fim.choices[0].finish_reason === "length", "completions+suffix object");
check(fim.usage.completion_tokens === 12, `completions usage ${fim.usage.completion_tokens}`);
result("fim", { text: fim.choices[0].text });
const echo = await main.completions.create({ model: "m", prompt: "abc", max_tokens: 4, temperature: 0, echo: true });
check(echo.choices[0].text.startsWith("abc") && echo.choices[0].text.length > 3, `echo: ${JSON.stringify(echo.choices[0].text)}`);
const cs = await main.completions.create({ model: "m", prompt: "abc", max_tokens: 4, temperature: 0, stream: true });
let ctext = "";
for await (const ch of cs) ctext += ch.choices.length ? ch.choices[0].text : "";
check("abc" + ctext === echo.choices[0].text, "streamed completion == echo minus the prompt");

// ---- predicted outputs ----
const p1 = await main.chat.completions.create({ model: "m", messages: MSGS, max_tokens: N, temperature: 0, prediction: { type: "content", content: a1 } });
const d1 = p1.usage.completion_tokens_details;
check(p1.choices[0].message.content === a1, "with the answer as prediction: the same answer");
check(d1.accepted_prediction_tokens >= N / 2 && d1.rejected_prediction_tokens === 0,
  `prediction accepted ${d1.accepted_prediction_tokens}, rejected ${d1.rejected_prediction_tokens}`);
const p2 = await main.chat.completions.create({ model: "m", messages: MSGS, max_tokens: N, temperature: 0, prediction: { type: "content", content: "zzzz qqqq " + a1.slice(4) } });
const d2 = p2.usage.completion_tokens_details;
check(p2.choices[0].message.content === a1, "with a wrong prediction: still the same answer");
check(d2.rejected_prediction_tokens > 0, `wrong prediction: rejected ${d2.rejected_prediction_tokens}, accepted ${d2.accepted_prediction_tokens}`);
result("prediction", { good: d1, bad: d2 });

// ---- seeded sampling is reproducible ----
const s1 = await main.chat.completions.create({ model: "m", messages: MSGS, max_tokens: 16, temperature: 1, seed: 7 });
const s2 = await main.chat.completions.create({ model: "m", messages: MSGS, max_tokens: 16, temperature: 1, seed: 7 });
check(s1.choices[0].message.content === s2.choices[0].message.content, "same seed, same sampled answer");

// ---- errors as the SDK reports them ----
try {
  await main.chat.completions.create({ model: "m", messages: [], max_tokens: 4 });
  check(false, "empty messages must fail");
} catch (e) {
  check(e instanceof OpenAI.BadRequestError && e.status === 400, `empty messages: 400 BadRequestError (${e.status})`);
  check(e.error?.type === "invalid_request_error" && e.param === "messages", `error type/param (${e.error?.type}, ${e.param})`);
}
try {
  await main.chat.completions.create({ model: "m", messages: MSGS, max_tokens: -5 });
  check(false, "negative max_tokens must fail");
} catch (e) {
  check(e.status === 400 && e.param === "max_tokens", `negative max_tokens: 400 (${e.status} ${e.param})`);
}
try {
  await main.chat.completions.create({ model: "m", messages: [{ role: "user", content: "x".repeat(5000) }] });
  check(false, "prompt longer than the context must fail");
} catch (e) {
  check(e.status === 400 && e.code === "context_length_exceeded", `too long: 400 context_length_exceeded (${e.status} ${e.code})`);
}
const models = await main.models.list();
check(models.data.length === 1 && models.data[0].object === "model", "models.list");

// ---- tool calls, as the SDK parses them ----
const toolc = new OpenAI({ baseURL: TOOL + "/v1", apiKey: "x", maxRetries: 0 });
const tools = [{ type: "function", function: { name: "read_file", parameters: { type: "object", properties: { path: { type: "string" } } } } }];
const tc = await toolc.chat.completions.create({ model: "m", messages: [{ role: "user", content: "show a.c" }], tools, max_tokens: 20, temperature: 0 });
const call = tc.choices[0].message.tool_calls?.[0];
check(tc.choices[0].finish_reason === "tool_calls" && call?.type === "function" && call.function.name === "read_file" &&
  JSON.parse(call.function.arguments).path === "a.c", `tool_calls: ${JSON.stringify(tc.choices[0].message)}`);
const tstream = await toolc.chat.completions.create({ model: "m", messages: [{ role: "user", content: "show a.c" }], tools, max_tokens: 20, temperature: 0, stream: true });
const acc = {};
let tfin = null;
for await (const ch of tstream) {
  for (const d of ch.choices[0]?.delta?.tool_calls ?? []) {
    acc[d.index] ??= { name: "", arguments: "" };
    acc[d.index].name += d.function?.name ?? "";
    acc[d.index].arguments += d.function?.arguments ?? "";
  }
  tfin = ch.choices[0]?.finish_reason ?? tfin;
}
check(tfin === "tool_calls" && acc[0]?.name === "read_file" && JSON.parse(acc[0].arguments).path === "a.c",
  `streamed tool call accumulated: ${JSON.stringify(acc)} (${tfin})`);
// the answer goes back with the tool result; arguments are a string again
const follow = await toolc.chat.completions.create({ model: "m", max_tokens: 2, temperature: 0, tools, messages: [
  { role: "user", content: "show a.c" }, tc.choices[0].message,
  { role: "tool", tool_call_id: call.id, content: "int main(void) { return 0; }" }] });
check(follow.choices.length === 1, "a follow-up with the assistant's tool_calls and a tool message is accepted");

// ---- auth ----
const bad = new OpenAI({ baseURL: AUTH + "/v1", apiKey: "wrong-key", maxRetries: 0 });
try {
  await bad.chat.completions.create({ model: "m", messages: MSGS, max_tokens: 2 });
  check(false, "wrong key must fail");
} catch (e) {
  check(e instanceof OpenAI.AuthenticationError && e.status === 401 && e.code === "invalid_api_key", `wrong key: 401 invalid_api_key (${e.status} ${e.code})`);
}
try {
  await bad.models.list();
  check(false, "wrong key must fail on /v1/models");
} catch (e) {
  check(e.status === 401, `wrong key on models: ${e.status}`);
}
const good = new OpenAI({ baseURL: AUTH + "/v1", apiKey: KEY, maxRetries: 0 });
const g1 = await good.chat.completions.create({ model: "m", messages: MSGS, max_tokens: 2 });
check(g1.choices[0].message.content.length > 0, "right key works");
const h = await fetch(AUTH + "/health");
check(h.status === 200, `/health needs no key (${h.status})`);

// ---- abort mid-stream: the generation stops and the slot is freed ----
const busy = new OpenAI({ baseURL: BUSY + "/v1", apiKey: "x", maxRetries: 0, timeout: 60000 });
const m0 = await metrics(BUSY);
const long = await busy.chat.completions.create({ model: "m", messages: MSGS, max_tokens: 3000, temperature: 0, stream: true });
let got = 0;
for await (const ch of long) {
  if (ch.choices.length && ch.choices[0].delta.content) got++;
  if (got >= 5) break; // leaving the loop aborts the request (the SDK closes the connection)
}
const tAbort = Date.now();
let freeAfter = -1, m1 = null;
for (let i = 0; i < 400; i++) {
  m1 = await metrics(BUSY);
  if (m1["wafer_slots_busy"] === 0) { freeAfter = Date.now() - tAbort; break; }
  await sleep(5);
}
check(freeAfter >= 0 && freeAfter < 1000, `slot free ${freeAfter} ms after the abort`);
check(m1["wafer_requests_cancelled_total"] === (m0["wafer_requests_cancelled_total"] ?? 0) + 1, "cancelled counter +1");
const gen1 = m1["wafer_generated_tokens_total"] - (m0["wafer_generated_tokens_total"] ?? 0);
await sleep(300);
const m2 = await metrics(BUSY);
check(m2["wafer_generated_tokens_total"] === m1["wafer_generated_tokens_total"], "no tokens generated after the cancel");
check(gen1 < 3000, `generation stopped early: ${gen1} tokens of 3000`);
result("abort", { slot_free_ms: freeAfter, generated: gen1 });

// ---- 429 when saturated (1 slot, no queue) ----
const hold = await busy.chat.completions.create({ model: "m", messages: MSGS, max_tokens: 3000, temperature: 0, stream: true });
const it = hold[Symbol.asyncIterator]();
await it.next(); // the request holds the slot now
try {
  await busy.chat.completions.create({ model: "m", messages: MSGS, max_tokens: 2 });
  check(false, "a second request must be refused");
} catch (e) {
  const ra = e.headers?.get ? e.headers.get("retry-after") : e.headers?.["retry-after"];
  check(e instanceof OpenAI.RateLimitError && e.status === 429, `saturated: 429 RateLimitError (${e.status})`);
  check(Number(ra) >= 1, `Retry-After: ${ra}`);
}
hold.controller.abort();
for (let i = 0; i < 400; i++) {
  if ((await metrics(BUSY))["wafer_slots_busy"] === 0) break;
  await sleep(5);
}
const after = await busy.chat.completions.create({ model: "m", messages: MSGS, max_tokens: 2 });
check(after.choices[0].message.content.length > 0, "after the abort the slot serves again");

console.log(`failures: ${failures}`);
process.exit(failures ? 1 : 0);
