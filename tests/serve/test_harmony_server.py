#!/usr/bin/python3
"""test_harmony_server.py — `wafer serve` with a model that answers in gpt-oss's
"harmony" channels: reasoning (analysis), the answer (final) and a tool call
(commentary to=functions.NAME ... <|call|>), through the real HTTP endpoints.

The models are bigram "chain" models (test_server_common.make_chain_model's
idea: attention and FFN outputs zeroed, so greedy decoding walks a fixed token
chain) with a harmony vocabulary (<|start|>, <|channel|>, <|message|>, <|end|>,
<|return|>, <|call|>, <|constrain|> as control tokens) and the harmony chat
template of tests/chat/harmony.jinja. A chain cannot visit a token twice, so
the second <|channel|> / <|message|> of an answer is a second control token
with the same text: the server sees the same text a real gpt-oss writes. The
expected fields are the chain's pieces, written here; the checks:
 - /props says tool_call_format "harmony";
 - chat completions: reasoning_content, content, finish_reason; tool_calls
   with JSON arguments and finish_reason tool_calls; streamed: the
   reasoning_content deltas, then content / tool-call deltas, joined equal
   the whole answer's fields, no marker text in any delta; <|end|> does not
   end the answer (the model goes on to the final channel);
 - the Responses API: a reasoning item (content reasoning_text) before the
   message; function_call items; the stream's events (output indices,
   reasoning_text deltas, done events) and its final response;
 - tool_choice "required" is refused with a clear 400;
 - usage's reasoning_tokens (chat completions, its stream's usage chunk, the
   Responses API and its stream): the tokens of the analysis message, header
   to <|end|>, counted from the chain written here (also when max_tokens cuts
   the reasoning); the rest of completion_tokens is the answer's; an answer
   that is not harmony after all (an unknown channel) is content, with none;
 - Responses `reasoning` input items (as Codex CLI sends them back) reach the
   template as the assistant message's reasoning_content / thinking: the
   prompt the server builds equals Debian's python3-jinja2 rendering of the
   same template with the messages the items stand for (checked through the
   prefix cache: a raw /v1/completions of the jinja2 text reuses every token
   the Responses request left in the slot); after a final answer the template
   drops it; with the Qwen3 template of ../shared (when present) likewise;
 - the same through the official OpenAI SDK (test_harmony_openai.mjs),
   whose stream accumulator checks the Responses events' structure
   (skipped when node is absent).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile


import gguf_py as G
import make_model
import test_server_common as C
import testlib as T
from testlib import check

SRC = os.environ.get("WAFER_SRC", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
HSPECIALS = ["<|endoftext|>", "<|start|>", "<|end|>", "<|message|>", "<|channel|>", "<|return|>", "<|call|>",
             "<|constrain|>"]
DUPS = ["<|channel|>", "<|message|>"]  # second copies (ids before the real ones: lookups find the real ones)

REASONING_A = "The user wants a greeting."
ANSWER_A = ["<|channel|>", "analysis", "<|message|>", REASONING_A, "<|end|>", "<|start|>", "assistant",
            "<|channel|>", "final", "<|message|>", "Hello", " world!", "<|return|>"]
REASONING_B = "Need to read a.c first."
ARGS_B = '{"path": "a.c"}'
ANSWER_B = ["<|channel|>", "analysis", "<|message|>", REASONING_B, "<|end|>", "<|start|>", "assistant",
            "<|channel|>", "commentary to=functions.read_file ", "<|constrain|>", "json", "<|message|>",
            '{"path":', ' "a.c"}', "<|call|>"]
# reasoning_tokens: the analysis message's tokens, from its <|channel|> to its <|end|>
N_REASON_A = ANSWER_A.index("<|end|>") + 1
N_REASON_B = ANSWER_B.index("<|end|>") + 1
MARKERS = ["<|start|>", "<|end|>", "<|message|>", "<|channel|>", "<|return|>", "<|call|>", "<|constrain|>"]


def make_harmony_chain(path, answer, template=None):
    """A bigram model whose greedy answer after the harmony prompt (which
    ends "<|start|>assistant": last token the byte 't') is `answer`."""
    if template is None:
        template = open(os.path.join(SRC, "tests", "chat", "harmony.jinja"), encoding="utf-8").read()
    table = make_model.byte_tokens()
    pieces = [p for p in answer if p not in HSPECIALS]
    n_vocab = 300
    toks = table + DUPS + HSPECIALS + ["".join(table[b] for b in p.encode()) for p in pieces]
    types = [1] * 256 + [3] * (len(DUPS) + len(HSPECIALS)) + [1] * len(pieces)
    while len(toks) < n_vocab:
        toks.append("tok%d" % len(toks))
        types.append(1)
    dup_id = {d: 256 + i for i, d in enumerate(DUPS)}
    sp_id = {s: 256 + len(DUPS) + i for i, s in enumerate(HSPECIALS)}
    piece_id = {p: 256 + len(DUPS) + len(HSPECIALS) + i for i, p in enumerate(pieces)}
    used, chain = set(), [ord("t")]
    for p in answer:
        if p in sp_id:
            i = sp_id[p] if sp_id[p] not in used else dup_id[p]
        else:
            i = piece_id[p]
        assert i not in used, p
        used.add(i)
        chain.append(i)

    def vocab(w, nv):
        w.add_kv("tokenizer.ggml.model", "gpt2")
        w.add_kv("tokenizer.ggml.pre", "default")
        w.add_kv("tokenizer.ggml.tokens", toks, G.ARRAY, elem_type=G.STRING)
        w.add_kv("tokenizer.ggml.token_type", types, G.ARRAY, elem_type=G.INT32)
        w.add_kv("tokenizer.ggml.merges", [], G.ARRAY, elem_type=G.STRING)
        w.add_kv("tokenizer.ggml.eos_token_id", sp_id["<|return|>"], G.UINT32)
        w.add_kv("tokenizer.chat_template", template)

    cfg = dict(make_model.BASE, n_vocab=n_vocab, n_ctx=2048)
    C.write_chain_weights(path, cfg, vocab, chain, seed=7)


TOOLS = [{"type": "function", "function": {"name": "read_file", "description": "Read a file.",
                                           "parameters": {"type": "object", "properties": {"path": {"type": "string"}},
                                                          "required": ["path"]}}}]
MSGS = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say hello."}]


def no_markers(s):
    return not any(m in s for m in MARKERS)


def chat_checks(a, b):
    st, props, _, _ = a.request("GET", "/props")
    check(st == 200 and props.get("tool_call_format") == "harmony", "/props: tool_call_format harmony (%s)" %
          (props or {}).get("tool_call_format"))
    st, j, out, _ = a.request("POST", "/v1/chat/completions", {"messages": MSGS, "temperature": 0})
    m = (j or {}).get("choices", [{}])[0].get("message", {}) if st == 200 else {}
    check(st == 200 and m.get("reasoning_content") == REASONING_A and m.get("content") == "Hello world!" and
          j["choices"][0]["finish_reason"] == "stop" and "tool_calls" not in m,
          "chat: reasoning_content, content and finish stop (%d %s)" % (st, out[:300]))
    check(st == 200 and j["usage"]["completion_tokens"] == len(ANSWER_A),
          "chat: the answer ran past <|end|> to <|return|> (%s tokens)" % (j or {}).get("usage"))
    # streamed
    st, _, out, _ = a.request("POST", "/v1/chat/completions", {"messages": MSGS, "temperature": 0, "stream": True})
    evs = [json.loads(e) for e in C.sse_events(out) if e != "[DONE]"]
    deltas = [e["choices"][0]["delta"] for e in evs if e.get("choices")]
    kinds = [k for d in deltas for k in ("reasoning_content", "content") if d.get(k)]
    reason = "".join(d.get("reasoning_content") or "" for d in deltas)
    content = "".join(d.get("content") or "" for d in deltas)
    check(st == 200 and reason == REASONING_A and content == "Hello world!",
          "chat stream: deltas join to the reasoning and the content (%r / %r)" % (reason, content))
    check(kinds and kinds == sorted(kinds, key=lambda k: k != "reasoning_content") and kinds.count("reasoning_content") >= 1,
          "chat stream: reasoning deltas come before content deltas (%s)" % kinds)
    check(all(no_markers(json.dumps(d, ensure_ascii=False)) for d in deltas), "chat stream: no marker text in a delta")
    check(out.endswith(b"data: [DONE]\n\n") and evs[-1]["choices"][0]["finish_reason"] == "stop", "chat stream: finish stop, [DONE]")

    # tool call
    st, j, out, _ = b.request("POST", "/v1/chat/completions", {"messages": MSGS, "tools": TOOLS, "temperature": 0})
    ch = (j or {}).get("choices", [{}])[0]
    m = ch.get("message", {})
    tc = m.get("tool_calls") or []
    check(st == 200 and len(tc) == 1 and tc[0]["function"]["name"] == "read_file" and
          tc[0]["function"]["arguments"] == ARGS_B and json.loads(tc[0]["function"]["arguments"]) == {"path": "a.c"} and
          tc[0]["type"] == "function" and tc[0]["id"], "chat: a tool call with JSON arguments (%s)" % out[:400])
    check(ch.get("finish_reason") == "tool_calls" and m.get("content") is None and m.get("reasoning_content") == REASONING_B,
          "chat: finish tool_calls, content null, the reasoning kept")
    st, _, out, _ = b.request("POST", "/v1/chat/completions",
                              {"messages": MSGS, "tools": TOOLS, "temperature": 0, "stream": True})
    evs = [json.loads(e) for e in C.sse_events(out) if e != "[DONE]"]
    deltas = [e["choices"][0]["delta"] for e in evs if e.get("choices")]
    calls = {}
    for d in deltas:
        for c in d.get("tool_calls") or []:
            x = calls.setdefault(c["index"], {"id": None, "name": "", "args": ""})
            x["id"] = c.get("id") or x["id"]
            x["name"] += c.get("function", {}).get("name") or ""
            x["args"] += c.get("function", {}).get("arguments") or ""
    reason = "".join(d.get("reasoning_content") or "" for d in deltas)
    check(calls and calls[0]["name"] == "read_file" and calls[0]["args"] == ARGS_B and calls[0]["id"] and len(calls) == 1,
          "chat stream: the call's deltas join to the call (%s)" % calls)
    check(reason == REASONING_B and not any(d.get("content") for d in deltas) and
          evs[-1]["choices"][0]["finish_reason"] == "tool_calls", "chat stream: reasoning, no content, finish tool_calls")
    # a follow-up with the call and its result renders and answers
    follow = MSGS + [{"role": "assistant", "content": None, "tool_calls": tc},
                     {"role": "tool", "tool_call_id": tc[0]["id"] if tc else "x", "content": "int main;"}]
    st, j, out, _ = b.request("POST", "/v1/chat/completions", {"messages": follow, "tools": TOOLS, "temperature": 0,
                                                               "max_tokens": 4})
    check(st == 200, "chat: a conversation with the call and its result is rendered (%d %s)" % (st, out[:200]))
    st, j, out, _ = b.request("POST", "/v1/chat/completions", {"messages": MSGS, "tools": TOOLS, "tool_choice": "required"})
    check(st == 400 and "harmony" in out.decode(), "tool_choice required: a clear 400 (%d %s)" % (st, out[:200]))
    # cut by max_tokens inside the call: no call, the arguments so far are content
    st, j, out, _ = b.request("POST", "/v1/chat/completions", {"messages": MSGS, "tools": TOOLS, "temperature": 0,
                                                               "max_tokens": len(ANSWER_B) - 2})
    m = (j or {}).get("choices", [{}])[0].get("message", {})
    check(st == 200 and not m.get("tool_calls") and m.get("content") == '{"path":' and
          j["choices"][0]["finish_reason"] == "length", "chat: a call cut by max_tokens is content, finish length (%s)" % out[:300])


def responses_checks(a, b):
    st, j, out, _ = a.request("POST", "/v1/responses", {"input": "Say hello.", "instructions": "You are terse.",
                                                        "temperature": 0})
    o = (j or {}).get("output", [])
    check(st == 200 and len(o) == 2 and o[0]["type"] == "reasoning" and o[0]["summary"] == [] and
          o[0]["content"] == [{"type": "reasoning_text", "text": REASONING_A}] and o[0]["id"].startswith("rs_") and
          o[1]["type"] == "message" and o[1]["content"][0]["text"] == "Hello world!" and j["output_text"] == "Hello world!",
          "responses: a reasoning item, then the message (%s)" % out[:500])
    st, j, out, _ = b.request("POST", "/v1/responses", {"input": "Look at a.c", "tools": [
        {"type": "function", "name": "read_file", "parameters": TOOLS[0]["function"]["parameters"]}], "temperature": 0})
    o = (j or {}).get("output", [])
    check(st == 200 and [x["type"] for x in o] == ["reasoning", "function_call"] and o[1]["name"] == "read_file" and
          o[1]["arguments"] == ARGS_B and o[1]["call_id"], "responses: reasoning, then a function_call (%s)" % out[:500])
    # streamed
    st, _, out, _ = b.request("POST", "/v1/responses", {"input": "Look at a.c", "temperature": 0, "stream": True, "tools": [
        {"type": "function", "name": "read_file", "parameters": TOOLS[0]["function"]["parameters"]}]})
    evs = [json.loads(e) for e in C.sse_events(out)]
    types = [e["type"] for e in evs]
    check(all(e["sequence_number"] == i for i, e in enumerate(evs)), "responses stream: sequence numbers")
    want_head = ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
                 "response.reasoning_text.delta"]
    check(types[:5] == want_head, "responses stream: reasoning item first (%s)" % types[:6])
    rs = "".join(e["delta"] for e in evs if e["type"] == "response.reasoning_text.delta")
    done = [e for e in evs if e["type"] == "response.reasoning_text.done"]
    check(rs == REASONING_B and done and done[0]["text"] == REASONING_B and done[0]["output_index"] == 0,
          "responses stream: reasoning_text deltas and done (%r)" % rs)
    fa = [e for e in evs if e["type"] == "response.output_item.added" and e["item"]["type"] == "function_call"]
    args = "".join(e["delta"] for e in evs if e["type"] == "response.function_call_arguments.delta")
    fdone = [e for e in evs if e["type"] == "response.function_call_arguments.done"]
    check(fa and fa[0]["output_index"] == 1 and args == ARGS_B and fdone and fdone[0]["arguments"] == ARGS_B,
          "responses stream: the function_call item at output_index 1, its arguments (%r)" % args)
    check(types[-1] == "response.completed" and [x["type"] for x in evs[-1]["response"]["output"]] == ["reasoning", "function_call"],
          "responses stream: completed with the same output items")
    check(all(no_markers(json.dumps(e.get("delta", ""))) for e in evs), "responses stream: no marker text in a delta")
    # the stored response continues: previous_response_id renders the call as harmony
    rid = evs[-1]["response"]["id"]
    call_id = evs[-1]["response"]["output"][1]["call_id"]
    st, j, out, _ = b.request("POST", "/v1/responses", {"previous_response_id": rid, "max_output_tokens": 4, "input": [
        {"type": "function_call_output", "call_id": call_id, "output": "int main;"}]})
    check(st == 200 and j["usage"]["input_tokens_details"]["cached_tokens"] > 0,
          "responses: previous_response_id with a function_call_output (%d, cached %s)" %
          (st, (j or {}).get("usage", {}).get("input_tokens_details")))


def usage_checks(a, b):
    """reasoning_tokens: counted from the chain (N_REASON_*), never from wafer."""
    for srv, n_all, n_reason, extra in ((a, len(ANSWER_A), N_REASON_A, {}), (b, len(ANSWER_B), N_REASON_B, {"tools": TOOLS})):
        st, j, out, _ = srv.request("POST", "/v1/chat/completions", dict(messages=MSGS, temperature=0, **extra))
        u = (j or {}).get("usage", {})
        check(st == 200 and u.get("completion_tokens") == n_all and
              u.get("completion_tokens_details", {}).get("reasoning_tokens") == n_reason,
              "chat usage: reasoning_tokens %d of %d (%s)" % (n_reason, n_all, u))
        st, _, out, _ = srv.request("POST", "/v1/chat/completions",
                                    dict(messages=MSGS, temperature=0, stream=True, stream_options={"include_usage": True},
                                         **extra))
        evs = [json.loads(e) for e in C.sse_events(out) if e != "[DONE]"]
        us = [e["usage"] for e in evs if e.get("usage")]
        check(st == 200 and len(us) == 1 and us[0]["completion_tokens"] == n_all and
              us[0]["completion_tokens_details"]["reasoning_tokens"] == n_reason,
              "chat stream include_usage: the usage chunk's reasoning_tokens (%s)" % us)
    # cut by max_tokens inside the reasoning: all of it is reasoning
    st, j, out, _ = a.request("POST", "/v1/chat/completions", {"messages": MSGS, "temperature": 0, "max_tokens": 4})
    u = (j or {}).get("usage", {})
    check(st == 200 and u.get("completion_tokens") == 4 and u["completion_tokens_details"]["reasoning_tokens"] == 4,
          "chat usage: an answer cut inside its reasoning is all reasoning (%s)" % u)
    # Responses, whole and streamed
    st, j, out, _ = a.request("POST", "/v1/responses", {"input": "Say hello.", "temperature": 0})
    u = (j or {}).get("usage", {})
    check(st == 200 and u.get("output_tokens") == len(ANSWER_A) and
          u.get("output_tokens_details", {}).get("reasoning_tokens") == N_REASON_A,
          "responses usage: output_tokens_details.reasoning_tokens (%s)" % u)
    st, _, out, _ = a.request("POST", "/v1/responses", {"input": "Say hello.", "temperature": 0, "stream": True})
    evs = [json.loads(e) for e in C.sse_events(out)]
    fin = [e for e in evs if e.get("type") == "response.completed"]
    u = fin[0]["response"]["usage"] if fin else {}
    check(fin and u["output_tokens_details"]["reasoning_tokens"] == N_REASON_A and u["output_tokens"] == len(ANSWER_A),
          "responses stream: response.completed's usage counts the reasoning (%s)" % u)


def not_harmony_check(tmp):
    """An answer with an analysis message and then a channel harmony does not
    have: the API shows it whole as content, and counts no reasoning."""
    p = os.path.join(tmp, "bogus.gguf")
    answer = ["<|channel|>", "analysis", "<|message|>", "Think.", "<|end|>", "<|start|>", "assistant", "<|channel|>",
              "bogus", "<|message|>", "x", "<|return|>"]
    make_harmony_chain(p, answer)
    with C.Server(p) as z:
        st, j, out, _ = z.request("POST", "/v1/chat/completions", {"messages": MSGS, "temperature": 0})
        m = (j or {}).get("choices", [{}])[0].get("message", {})
        u = (j or {}).get("usage", {})
        check(st == 200 and "bogus" in (m.get("content") or "") and not m.get("reasoning_content") and
              u["completion_tokens"] == len(answer) and u["completion_tokens_details"]["reasoning_tokens"] == 0,
              "not harmony after all: all content, reasoning_tokens 0 (%s)" % out[:400])


def jinja_render(template, messages, tools=None):
    """The prompt as transformers renders a chat template: Debian's python3-jinja2."""
    import datetime
    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(msg):
        raise RuntimeError(msg)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = lambda x, ensure_ascii=False, indent=None, separators=None, sort_keys=False: json.dumps(
        x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.datetime.now().strftime(fmt)
    return env.from_string(template).render(messages=messages, tools=tools, add_generation_prompt=True,
                                            bos_token="", eos_token="<|return|>")


RTOOLS = [{"type": "function", "name": "read_file", "description": "Read a file.",
           "parameters": TOOLS[0]["function"]["parameters"]}]
CALL_ITEMS = [
    {"type": "message", "role": "user", "content": "Look at a.c"},
    {"type": "reasoning", "id": "rs_1", "summary": [], "content": [{"type": "reasoning_text", "text": REASONING_B}]},
    {"type": "function_call", "call_id": "c1", "name": "read_file", "arguments": ARGS_B},
    {"type": "function_call_output", "call_id": "c1", "output": "int main;"},
]


def call_msgs(reasoning):
    """The chat messages CALL_ITEMS stand for (the server hands the template
    JSON arguments as an object, as llama.cpp does)."""
    a = {"role": "assistant", "content": "", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "read_file", "arguments": json.loads(ARGS_B)}}]}
    if reasoning:
        a["reasoning_content"] = a["thinking"] = reasoning
    return [{"role": "user", "content": "Look at a.c"}, a, {"role": "tool", "tool_call_id": "c1", "content": "int main;"}]


def same_prompt(srv, body, ref, what, chat=False):
    """The Responses (or chat) request's prompt equals the jinja2 text ref:
    sent next as a raw prompt, every token but the last is reused from the
    slot."""
    if chat:
        st, j, out, _ = srv.request("POST", "/v1/chat/completions", dict(body, max_tokens=1, temperature=0))
        n = (j or {}).get("usage", {}).get("prompt_tokens", -1)
    else:
        st, j, out, _ = srv.request("POST", "/v1/responses", dict(body, max_output_tokens=1, temperature=0))
        n = (j or {}).get("usage", {}).get("input_tokens", -1)
    check(st == 200 and n > 0, "%s: the request renders (%d %s)" % (what, st, out[:300]))
    st, j, out, _ = srv.request("POST", "/v1/completions", {"prompt": ref, "max_tokens": 1, "temperature": 0})
    u = (j or {}).get("usage", {})
    cached = u.get("prompt_tokens_details", {}).get("cached_tokens", -1)
    check(st == 200 and u.get("prompt_tokens") == n and cached >= n - 1,
          "%s: the server's prompt == python3-jinja2's (%d tokens; the jinja2 text %s tokens, %s reused)" %
          (what, n, u.get("prompt_tokens"), cached))
    return n, cached


def reasoning_input_checks(b):
    tmpl = open(os.path.join(SRC, "tests", "chat", "harmony.jinja"), encoding="utf-8").read()
    ref = jinja_render(tmpl, call_msgs(REASONING_B), TOOLS)
    check("<|start|>assistant<|channel|>analysis<|message|>" + REASONING_B + "<|end|>" in ref,
          "jinja2: the template keeps the reasoning of the call's turn")
    same_prompt(b, {"input": CALL_ITEMS, "tools": RTOOLS}, ref, "reasoning item before a call")
    # the method can fail: the text without the reasoning is not the server's prompt
    st, j, out, _ = b.request("POST", "/v1/responses", {"input": CALL_ITEMS, "tools": RTOOLS, "max_output_tokens": 1})
    st, j, out, _ = b.request("POST", "/v1/completions", {"prompt": jinja_render(tmpl, call_msgs(None), TOOLS),
                                                          "max_tokens": 1, "temperature": 0})
    cached = (j or {}).get("usage", {}).get("prompt_tokens_details", {}).get("cached_tokens", -1)
    check(st == 200 and 0 <= cached < ref.index(REASONING_B), "without the reasoning the prompts part where it was "
          "(%d tokens reused)" % cached)
    # a summary only: its text is the reasoning
    items = [dict(CALL_ITEMS[1], content=None, summary=[{"type": "summary_text", "text": "Read a.c."}])
             if it.get("type") == "reasoning" else it for it in CALL_ITEMS]
    same_prompt(b, {"input": items, "tools": RTOOLS}, jinja_render(tmpl, call_msgs("Read a.c."), TOOLS),
                "a reasoning item with a summary only")
    # after a final answer the template drops the reasoning
    fin_items = [{"type": "message", "role": "user", "content": "Say hello."},
                 {"type": "reasoning", "summary": [], "content": [{"type": "reasoning_text", "text": REASONING_A}]},
                 {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hello world!"}]},
                 {"type": "message", "role": "user", "content": "Again."}]
    fin_msgs = [{"role": "user", "content": "Say hello."},
                {"role": "assistant", "content": "Hello world!", "reasoning_content": REASONING_A, "thinking": REASONING_A},
                {"role": "user", "content": "Again."}]
    ref = jinja_render(tmpl, fin_msgs)
    check(REASONING_A not in ref, "jinja2: the template drops the reasoning after a final answer")
    same_prompt(b, {"input": fin_items}, ref, "reasoning before a final answer")
    # hostile reasoning items: a clear 400 naming the part
    for bad, want in (({"type": "reasoning", "summary": "x"}, "input[0].summary"),
                      ({"type": "reasoning", "summary": [], "content": [{"type": "input_text", "text": "x"}]},
                       "input_text"),
                      ({"type": "reasoning", "summary": [{"type": "summary_text", "text": 5}]}, "text"),
                      ({"type": "reasoning", "summary": [], "encrypted_content": 7}, "encrypted_content")):
        st, j, out, _ = b.request("POST", "/v1/responses", {"input": [bad, CALL_ITEMS[0]], "max_output_tokens": 1})
        check(st == 400 and want in out.decode(), "a bad reasoning item: 400 naming %s (%d %s)" % (want, st, out[:200]))


def thinking_field_check(tmp):
    """A template that reads only `thinking` (gpt-oss's own template's field;
    harmony.jinja with its reasoning_content fallback taken out): chat
    completions' reasoning_content and Responses reasoning items reach it."""
    src = open(os.path.join(SRC, "tests", "chat", "harmony.jinja"), encoding="utf-8").read()
    fallback = "(m.reasoning_content if m.reasoning_content is defined and m.reasoning_content else '')"
    check(fallback in src, "harmony.jinja has its reasoning_content fallback")
    tmpl = src.replace(fallback, "''")
    p = os.path.join(tmp, "thinking.gguf")
    make_harmony_chain(p, ANSWER_B, template=tmpl)
    ref = jinja_render(tmpl, call_msgs(REASONING_B), TOOLS)
    check(REASONING_B in ref and REASONING_B not in jinja_render(tmpl, [dict(m, thinking="") if "thinking" in m else m
                                                                      for m in call_msgs(REASONING_B)], TOOLS),
          "jinja2: this template shows only `thinking`")
    sent = call_msgs(None)
    sent[1] = dict(sent[1], reasoning_content=REASONING_B)  # what a client sends back
    with C.Server(p) as t:
        same_prompt(t, {"messages": sent, "tools": TOOLS}, ref, "chat: reasoning_content reaches `thinking`", chat=True)
        same_prompt(t, {"input": CALL_ITEMS, "tools": RTOOLS}, ref, "responses: a reasoning item reaches `thinking`")


def qwen3_reasoning_check(tmp):
    """A template that reads reasoning_content (Qwen3's, from ../shared)."""
    path = os.path.join(os.environ.get("WAFER_SHARED", ""), "templates", "Qwen-Qwen3-0.6B.jinja")
    if not os.environ.get("WAFER_SHARED") or not os.path.exists(path):
        print("SKIP (part): no Qwen3 template in $WAFER_SHARED/templates")
        return
    tmpl = open(path, encoding="utf-8").read()
    p = os.path.join(tmp, "qwen3.gguf")
    make_harmony_chain(p, ANSWER_A, template=tmpl)
    ref = jinja_render(tmpl, call_msgs(REASONING_B), TOOLS)
    check("<think>\n" + REASONING_B + "\n</think>" in ref, "jinja2: the Qwen3 template shows the call turn's reasoning")
    with C.Server(p) as q:
        same_prompt(q, {"input": CALL_ITEMS, "tools": RTOOLS}, ref, "Qwen3 template: reasoning item before a call")


def main():
    T.need_wafer()
    tmp = tempfile.mkdtemp(prefix="wf_harmony_srv_")
    pa, pb = os.path.join(tmp, "answer.gguf"), os.path.join(tmp, "tool.gguf")
    make_harmony_chain(pa, ANSWER_A)
    make_harmony_chain(pb, ANSWER_B)
    with C.Server(pa) as a, C.Server(pb) as b:
        chat_checks(a, b)
        responses_checks(a, b)
        usage_checks(a, b)
        reasoning_input_checks(b)
        node = shutil.which("node")
        if node:
            import test_server_openai as O
            _, d = O.ensure_node()
            shutil.copyfile(os.path.join(SRC, "tests", "serve", "test_harmony_openai.mjs"),
                            os.path.join(d, "test_harmony_openai.mjs"))
            try:
                r = T.run([node, os.path.join(d, "test_harmony_openai.mjs"), a.url, b.url, REASONING_A, REASONING_B, ARGS_B,
                           str(len(ANSWER_A)), str(N_REASON_A)],
                          cwd=d, text=True, timeout=100)
                print(r.stdout)
                if r.stderr.strip():
                    print(r.stderr[-3000:])
                check(r.returncode == 0, "the OpenAI SDK script's checks pass (exit %d)" % r.returncode)
            except subprocess.TimeoutExpired:
                T.fail("the SDK script timed out")
        else:
            print("SKIP (part): node is not installed: the OpenAI SDK checks did not run")
    thinking_field_check(tmp)
    not_harmony_check(tmp)
    qwen3_reasoning_check(tmp)
    check(not C.SANITIZER_REPORTS, "no sanitizer reports")
    return T.summary("test_harmony_server")


if __name__ == "__main__":
    sys.exit(main())
