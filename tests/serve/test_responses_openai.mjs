// test_responses_openai.mjs — `wafer serve`'s Responses API driven by the
// official, unmodified OpenAI SDK for JavaScript (npm `openai`, pinned in
// tests/server-node). Started by tests/serve/test_responses_openai.py:
//   node test_responses_openai.mjs MAIN_URL TOOL_URL BUSY_URL
// MAIN: the synthetic ChatML model; TOOL: a model whose greedy answer is a
// tool call; BUSY: the slower model with one slot (cancel).
// Prints "ok ..." / "FAIL ..." per check and "RESULT {...}" lines; exit 1 on
// any failure.
import OpenAI from "openai";

const [MAIN, TOOL, BUSY] = process.argv.slice(2);
let failures = 0;
const check = (cond, msg) => {
  console.log((cond ? "ok   " : "FAIL ") + msg);
  if (!cond) failures++;
};
const result = (name, value) => console.log("RESULT " + JSON.stringify({ name, value }));
const client = (u) => new OpenAI({ baseURL: u + "/v1", apiKey: "unused", maxRetries: 0, timeout: 60000 });
const main = client(MAIN), tool = client(TOOL), busy = client(BUSY);

// ---- plain ----
const r = await main.responses.create({
  model: "m", instructions: "You are terse.", input: "Write a function.", temperature: 0, max_output_tokens: 12,
});
check(r.object === "response" && r.id.startsWith("resp_"), `plain: a response object (${r.id})`);
check(typeof r.output_text === "string" && r.output_text.length > 0, `output_text (${JSON.stringify(r.output_text)})`);
check(r.status === "incomplete" && r.incomplete_details?.reason === "max_output_tokens", "incomplete: max_output_tokens");
check(r.usage.output_tokens === 12 && r.usage.input_tokens > 0 && r.usage.total_tokens === r.usage.input_tokens + 12, "usage");
result("plain", { text: r.output_text, input_tokens: r.usage.input_tokens });

// ---- streamed: event order and sequence numbers ----
const stream = await main.responses.create({
  instructions: "You are terse.", input: "Write a function.", temperature: 0, max_output_tokens: 12, stream: true,
});
const evs = [];
for await (const ev of stream) evs.push(ev);
const types = evs.map((e) => e.type);
check(evs.every((e, i) => e.sequence_number === i), "stream: sequence_number 0..n-1");
const head = ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"];
const tail = ["response.output_text.done", "response.content_part.done", "response.output_item.done", "response.incomplete"];
check(JSON.stringify(types.slice(0, 4)) === JSON.stringify(head) && JSON.stringify(types.slice(-4)) === JSON.stringify(tail) &&
      types.slice(4, -4).every((t) => t === "response.output_text.delta") && types.length > 8,
      `stream: event order (${types.length} events)`);
const streamed = evs.filter((e) => e.type === "response.output_text.delta").map((e) => e.delta).join("");
check(streamed === r.output_text, `streamed text equals the non-streamed answer (${JSON.stringify(streamed)})`);

// ---- previous_response_id: the follow-up reuses the cached prefix ----
const first = await main.responses.create({ instructions: "You are terse.", input: "Name a sort.", max_output_tokens: 6 });
const follow = await main.responses.create({
  instructions: "You are terse.", previous_response_id: first.id, input: "And another?", max_output_tokens: 6,
});
const cached = follow.usage.input_tokens_details.cached_tokens;
check(cached > 0 && cached >= first.usage.input_tokens, `previous_response_id: cached_tokens ${cached} >= ${first.usage.input_tokens}`);
const got = await main.responses.retrieve(first.id);
check(got.id === first.id && got.output_text === first.output_text, "retrieve");
await main.responses.delete(first.id);
let gone = 0;
try { await main.responses.retrieve(first.id); } catch (e) { gone = e.status; }
check(gone === 404, `delete, then retrieve: 404 (${gone})`);

// ---- a function call answered with function_call_output ----
const tools = [{ type: "function", name: "read_file", description: "Read a file.",
                 parameters: { type: "object", properties: { path: { type: "string" } }, required: ["path"] } }];
const t1 = await tool.responses.create({ input: "Look at a.c", tools, temperature: 0 });
const call = t1.output.find((o) => o.type === "function_call");
check(call && call.name === "read_file" && JSON.parse(call.arguments).path === "a.c" && call.call_id,
      `function_call: ${call ? call.name + " " + call.arguments : "none"}`);
const t2 = await tool.responses.create({
  input: [{ role: "user", content: "Look at a.c" }, call, { type: "function_call_output", call_id: call?.call_id ?? "x", output: "int main;" }],
  tools, temperature: 0, max_output_tokens: 4,
});
check(t2.status !== undefined && t2.usage.input_tokens > t1.usage.input_tokens, "function_call_output: answered, the call and output in the prompt");
const ts = await tool.responses.create({ input: "Look at a.c", tools, temperature: 0, stream: true });
const tev = [];
for await (const ev of ts) tev.push(ev);
const args = tev.filter((e) => e.type === "response.function_call_arguments.delta").map((e) => e.delta).join("");
check(JSON.parse(args || "null")?.path === "a.c" && tev.at(-1).type === "response.completed", "streamed function call arguments");

// ---- bad input: 400 ----
let st = 0, param = null;
try {
  await main.responses.create({ input: [{ type: "image_generation_call", id: "x" }] });
} catch (e) { st = e.status; param = e.param; }
check(st === 400 && param === "input[0]", `bad input item: 400 param input[0] (${st} ${param})`);

// ---- cancel a running response ----
const long = await busy.responses.create({ input: "go", max_output_tokens: 3000, stream: true });
let id = null, last = null, n = 0;
for await (const ev of long) {
  if (ev.type === "response.created") id = ev.response.id;
  if (ev.type === "response.output_text.delta" && ++n === 3) {
    const c = await busy.responses.cancel(id);
    check(c.id === id && c.status === "cancelled", `cancel: status ${c.status}`);
  }
  last = ev;
}
check(last && last.response?.status === "cancelled" && last.response.usage.output_tokens < 3000,
      `the stream ends cancelled after ${last?.response?.usage?.output_tokens} tokens`);

process.exit(failures ? 1 : 0);
