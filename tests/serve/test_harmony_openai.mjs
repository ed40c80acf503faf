// test_harmony_openai.mjs — a harmony (gpt-oss-shaped) model behind `wafer
// serve`, driven by the official, unmodified OpenAI SDK for JavaScript (npm
// `openai`, pinned in tests/server-node). Started by
// tests/serve/test_harmony_server.py:
//   node test_harmony_openai.mjs ANSWER_URL TOOL_URL REASONING_A REASONING_B ARGS_B N_ALL N_REASON
// ANSWER: a model whose answer is reasoning then "Hello world!" (N_ALL tokens,
// N_REASON of them its analysis message); TOOL: one whose answer is
// reasoning then a read_file call with ARGS_B.
// The SDK's Responses stream helper rebuilds the response from the events
// (it throws on a reasoning_text delta for an item without reasoning
// content, a wrong output_index, ...), so its final response checks the
// events' structure. Prints "ok ..." / "FAIL ..."; exit 1 on any failure.
import OpenAI from "openai";

const [ANSWER, TOOL, REASONING_A, REASONING_B, ARGS_B, N_ALL_S, N_REASON_S] = process.argv.slice(2);
const N_ALL = Number(N_ALL_S), N_REASON = Number(N_REASON_S);
let failures = 0;
const check = (cond, msg) => {
  console.log((cond ? "ok   " : "FAIL ") + msg);
  if (!cond) failures++;
};
const client = (u) => new OpenAI({ baseURL: u + "/v1", apiKey: "unused", maxRetries: 0, timeout: 60000 });
const a = client(ANSWER), b = client(TOOL);
const messages = [{ role: "system", content: "You are terse." }, { role: "user", content: "Say hello." }];
const tools = [{ type: "function", function: { name: "read_file", description: "Read a file.",
  parameters: { type: "object", properties: { path: { type: "string" } }, required: ["path"] } } }];

// ---- chat completions ----
const c1 = await a.chat.completions.create({ model: "m", messages, temperature: 0 });
const m1 = c1.choices[0].message;
check(m1.content === "Hello world!" && m1.reasoning_content === REASONING_A && c1.choices[0].finish_reason === "stop",
      `chat: content and reasoning_content (${JSON.stringify(m1)})`);
const rt1 = c1.usage?.completion_tokens_details?.reasoning_tokens;
check(c1.usage?.completion_tokens === N_ALL && rt1 === N_REASON && rt1 + (N_ALL - N_REASON) === c1.usage.completion_tokens,
      `chat usage: reasoning_tokens ${N_REASON} + the answer's ${N_ALL - N_REASON} = completion_tokens (${JSON.stringify(c1.usage)})`);
const s1 = await a.chat.completions.create({ model: "m", messages, temperature: 0, stream: true,
                                             stream_options: { include_usage: true } });
let rc = "", ct = "", su = null;
for await (const ch of s1) {
  const d = ch.choices[0]?.delta ?? {};
  rc += d.reasoning_content ?? "";
  ct += d.content ?? "";
  if (ch.usage) su = ch.usage;
}
check(rc === REASONING_A && ct === "Hello world!", `chat stream: delta.reasoning_content and delta.content (${rc} / ${ct})`);
check(su?.completion_tokens === N_ALL && su?.completion_tokens_details?.reasoning_tokens === N_REASON,
      `chat stream include_usage: the usage chunk's reasoning_tokens (${JSON.stringify(su)})`);
const c2 = await b.chat.completions.create({ model: "m", messages, tools, temperature: 0 });
const tc = c2.choices[0].message.tool_calls ?? [];
check(c2.choices[0].finish_reason === "tool_calls" && tc.length === 1 && tc[0].function.name === "read_file" &&
      tc[0].function.arguments === ARGS_B && JSON.parse(tc[0].function.arguments).path === "a.c",
      `chat: a tool call (${JSON.stringify(tc)})`);
// the SDK's chat stream helper assembles tool-call deltas
const runner = b.chat.completions.stream({ model: "m", messages, tools, temperature: 0 });
const fin = await runner.finalChatCompletion();
const ftc = fin.choices[0].message.tool_calls ?? [];
check(ftc.length === 1 && ftc[0].function.name === "read_file" && ftc[0].function.arguments === ARGS_B &&
      fin.choices[0].finish_reason === "tool_calls", `chat stream helper: the assembled call (${JSON.stringify(ftc)})`);

// ---- Responses API ----
const r1 = await a.responses.create({ model: "m", instructions: "You are terse.", input: "Say hello.", temperature: 0 });
check(r1.output.length === 2 && r1.output[0].type === "reasoning" && r1.output[0].content?.[0]?.type === "reasoning_text" &&
      r1.output[0].content[0].text === REASONING_A && r1.output[1].type === "message" && r1.output_text === "Hello world!",
      `responses: reasoning item then message (${JSON.stringify(r1.output)})`);
check(r1.usage?.output_tokens === N_ALL && r1.usage?.output_tokens_details?.reasoning_tokens === N_REASON,
      `responses usage: output_tokens_details.reasoning_tokens (${JSON.stringify(r1.usage)})`);
const rtools = [{ type: "function", name: "read_file", parameters: tools[0].function.parameters }];
for (const [cl, want, input] of [[a, "answer", "Say hello."], [b, "call", "Look at a.c"]]) {
  const st = cl.responses.stream({ model: "m", input, tools: rtools, temperature: 0 });
  const deltas = [];
  st.on("response.reasoning_text.delta", (e) => deltas.push(e.delta));
  const f = await st.finalResponse();
  const rs = f.output[0];
  const reasoning = want === "answer" ? REASONING_A : REASONING_B;
  check(rs?.type === "reasoning" && rs.content?.[0]?.text === reasoning && deltas.join("") === reasoning,
        `responses stream (${want}): the reasoning item rebuilt from the events (${JSON.stringify(rs)})`);
  if (want === "answer") {
    check(f.output[1]?.type === "message" && f.output_text === "Hello world!", `responses stream: the message (${f.output_text})`);
    check(f.usage?.output_tokens === N_ALL && f.usage?.output_tokens_details?.reasoning_tokens === N_REASON,
          `responses stream: the final response's reasoning_tokens (${JSON.stringify(f.usage)})`);
  } else {
    const fc = f.output[1];
    check(fc?.type === "function_call" && fc.name === "read_file" && fc.arguments === ARGS_B && f.status === "completed",
          `responses stream: the function_call item (${JSON.stringify(fc)})`);
  }
}
process.exit(failures ? 1 : 0);
