#!/usr/bin/python3
"""test_responses.py — `wafer serve`'s OpenAI Responses API (POST /v1/responses)
over raw HTTP: the answer against the numpy reference on the ChatML prompt the
instructions and input items make, the response object, the streamed event
sequence (types, order, sequence numbers), function calls and
function_call_output, store + previous_response_id (only the new tokens are
computed), GET / DELETE / cancel, a client that hangs up, errors that name
what is wrong, and hostile bodies (1 MB instructions, 10,000 input items, a
100 KB tool schema, a full store) after which the server still answers.

The models are tests/serve/test_server_common.py's: a random byte-level model
with a ChatML template, and one whose greedy answer is a Hermes-style tool
call."""
import http.client
import json
import os
import socket
import sys
import tempfile
import time

import forward_np
import test_server_common as C
import testlib as T
from testlib import check

T.print_ok = True


def chatml_ids(msgs):
    im_s, im_e = C.special_id("<|im_start|>"), C.special_id("<|im_end|>")
    ids = []
    for role, content in msgs:
        ids += [im_s] + list((role + "\n" + content).encode()) + [im_e, 10]
    return ids + [im_s] + list(b"assistant\n")


def events(raw):
    """(event name, data object) of an SSE body."""
    out = []
    for block in raw.decode("utf-8").split("\n\n"):
        if not block.strip():
            continue
        name, data = None, None
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
        out.append((name, data))
    return out


def test_plain(s, model_path):
    body = {"model": "m", "instructions": "You are terse.", "temperature": 0, "max_output_tokens": 12,
            "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Write a "},
                                                                        {"type": "input_text", "text": "function."}]}]}
    st, j, _, h = s.request("POST", "/v1/responses", body)
    check(st == 200 and j["object"] == "response" and j["id"].startswith("resp_"), "plain: 200, a response object (%s)" % st)
    check(j["status"] == "incomplete" and j["incomplete_details"] == {"reason": "max_output_tokens"},
          "status incomplete with reason max_output_tokens")
    out = j["output"]
    check(len(out) == 1 and out[0]["type"] == "message" and out[0]["role"] == "assistant" and out[0]["id"].startswith("msg_"),
          "one assistant message item with an id")
    text = out[0]["content"][0]["text"]
    check(out[0]["content"][0]["type"] == "output_text" and j["output_text"] == text, "output_text part and convenience")
    ids = chatml_ids([("system", "You are terse."), ("user", "Write a function.")])
    u = j["usage"]
    check(u["input_tokens"] == len(ids) and u["output_tokens"] == 12 and u["total_tokens"] == len(ids) + 12 and
          "cached_tokens" in u["input_tokens_details"] and "reasoning_tokens" in u["output_tokens_details"],
          "usage: input %d == %d, output 12, details" % (u["input_tokens"], len(ids)))
    gen = list(text.encode())
    logits = forward_np.forward(forward_np.Model(model_path), ids + gen)
    gaps = [float(logits[len(ids) - 1 + i].max() - logits[len(ids) - 1 + i][t]) for i, t in enumerate(gen)]
    check(len(gen) == 12 and max(gaps) <= 2e-3, "the answer is numpy's greedy answer on the ChatML prompt (gap %.2g)" % max(gaps))
    check(j["instructions"] == "You are terse." and j["temperature"] == 0 and j["max_output_tokens"] == 12 and
          j["store"] is True and j["tool_choice"] == "auto" and j["text"] == {"format": {"type": "text"}},
          "the request's fields are repeated")
    check(h.get("X-Request-Id") == j["id"], "X-Request-Id is the response id")
    # the same via /responses and a plain string input
    st, j2, _, _ = s.request("POST", "/responses", {"input": "hi", "max_output_tokens": 2})
    check(st == 200 and j2["usage"]["output_tokens"] == 2, "/responses with a string input")
    return j, text


def test_stream(s):
    body = {"instructions": "You are terse.", "input": "Write a function.", "temperature": 0, "max_output_tokens": 12,
            "stream": True}
    st, _, raw, h = s.request("POST", "/v1/responses", body)
    ev = events(raw)
    names = [n for n, _ in ev]
    check(st == 200 and h.get("Content-Type", "").startswith("text/event-stream"), "stream: 200 text/event-stream")
    check(all(d.get("type") == n for n, d in ev), "every event's data has its type")
    check([d["sequence_number"] for _, d in ev] == list(range(len(ev))), "sequence_number 0, 1, 2, ... in order")
    want_head = ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"]
    want_tail = ["response.output_text.done", "response.content_part.done", "response.output_item.done", "response.incomplete"]
    deltas = names[4:-4]
    check(names[:4] == want_head and names[-4:] == want_tail and deltas and
          all(n == "response.output_text.delta" for n in deltas), "event order: %s" % " ".join(sorted(set(names))))
    text = "".join(d["delta"] for n, d in ev if n == "response.output_text.delta")
    final = ev[-1][1]["response"]
    check(final["output_text"] == text and ev[-4][1]["text"] == text, "deltas add up to the final text")
    check(ev[0][1]["response"]["status"] == "in_progress" and ev[0][1]["response"]["output"] == [], "created: in_progress, no output")
    check(final["usage"]["output_tokens"] == 12, "final usage")
    return text


def test_previous(s):
    first = {"instructions": "You are terse.", "input": "Name a sorting algorithm.", "max_output_tokens": 6, "temperature": 0}
    st, a, _, _ = s.request("POST", "/v1/responses", first)
    follow = {"instructions": "You are terse.", "previous_response_id": a["id"], "max_output_tokens": 6,
              "input": [{"role": "user", "content": "And another?"}]}
    st, b, _, _ = s.request("POST", "/v1/responses", follow)
    check(st == 200 and b["previous_response_id"] == a["id"], "previous_response_id: 200")
    prev_text = a["output_text"]
    ids = chatml_ids([("system", "You are terse."), ("user", "Name a sorting algorithm."), ("assistant", prev_text),
                      ("user", "And another?")])
    u = b["usage"]
    check(u["input_tokens"] == len(ids), "the follow-up's prompt is the whole conversation (%d == %d)" % (u["input_tokens"], len(ids)))
    n_first = a["usage"]["input_tokens"]
    check(u["input_tokens_details"]["cached_tokens"] >= n_first,
          "only the new tokens are computed: %d cached >= the first prompt's %d" % (u["input_tokens_details"]["cached_tokens"], n_first))
    st, g, _, _ = s.request("GET", "/v1/responses/" + a["id"])
    check(st == 200 and g == a, "GET returns the stored response")
    st, d, _, _ = s.request("DELETE", "/v1/responses/" + a["id"])
    check(st == 200 and d == {"id": a["id"], "object": "response.deleted", "deleted": True}, "DELETE")
    st, g, _, _ = s.request("GET", "/v1/responses/" + a["id"])
    check(st == 404, "GET after DELETE: 404")
    st, e, _, _ = s.request("POST", "/v1/responses", dict(follow, previous_response_id=a["id"]))
    check(st == 400 and e["error"]["param"] == "previous_response_id" and a["id"] in e["error"]["message"],
          "an unknown previous_response_id: 400 naming it")
    st, n, _, _ = s.request("POST", "/v1/responses", dict(first, store=False))
    st, g, _, _ = s.request("GET", "/v1/responses/" + n["id"])
    check(st == 404, "store false: not kept")


def test_tools(t):
    tools = [{"type": "function", "name": "read_file", "description": "Read a file.",
              "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}, "strict": False},
             {"type": "web_search"}, {"type": "custom", "name": "apply_patch"}, {"type": "local_shell"}]
    body = {"input": "Look at a.c", "tools": tools, "temperature": 0}
    st, j, _, _ = t.request("POST", "/v1/responses", body)
    out = j["output"] if st == 200 else []
    check(st == 200 and [o["type"] for o in out] == ["message", "function_call"], "tools: a message then a function_call (%s)" % st)
    fc = out[-1] if out else {}
    check(fc.get("name") == "read_file" and json.loads(fc.get("arguments", "null")) == {"path": "a.c"} and
          fc.get("call_id") and fc.get("id", "").startswith("fc_"), "the call: name, arguments as a JSON string, call_id")
    check(j.get("status") == "completed" and j["output_text"] == "Let me check.", "content before the call is the message")
    check(j.get("tools") == [tools[0]], "non-function tools are skipped (not in the response's tools)")
    # streamed: the function call events
    st, _, raw, _ = t.request("POST", "/v1/responses", dict(body, stream=True))
    names = [n for n, _ in events(raw)]
    tail = ["response.output_item.added", "response.function_call_arguments.delta", "response.function_call_arguments.done",
            "response.output_item.done", "response.completed"]
    check(names[-5:] == tail, "stream: function call events " + " ".join(names[-5:]))
    args = "".join(d["delta"] for n, d in events(raw) if n == "response.function_call_arguments.delta")
    check(json.loads(args) == {"path": "a.c"}, "argument deltas add up to the arguments")
    # the call answered: function_call + function_call_output items render as a tool turn
    follow = {"input": [{"role": "user", "content": "Look at a.c"},
                        {"type": "function_call", "call_id": fc.get("call_id", "c1"), "name": "read_file",
                         "arguments": fc.get("arguments", "{}")},
                        {"type": "function_call_output", "call_id": fc.get("call_id", "c1"), "output": "int main;"},
                        {"type": "reasoning", "id": "rs_1", "summary": []}],
              "tools": tools, "temperature": 0, "max_output_tokens": 3}
    st, j, _, _ = t.request("POST", "/v1/responses", follow)
    check(st == 200, "function_call_output accepted (%s %s)" % (st, j if st != 200 else ""))
    st, j, _, _ = t.request("POST", "/v1/responses", dict(follow, tool_choice="none"))
    check(st == 200 and all(o["type"] == "message" for o in j["output"]), "tool_choice none: no calls parsed")


def test_errors(s):
    cases = [
        ("unknown item type", {"input": [{"type": "image_generation_call", "id": "x"}]}, "input[0]", "image_generation_call"),
        ("unknown part type", {"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]},
         "input[0].content", "input_image"),
        ("bad role", {"input": [{"role": "robot", "content": "x"}]}, "input[0]", "robot"),
        ("function_call without name", {"input": [{"type": "function_call", "call_id": "c", "arguments": "{}"}]},
         "input[0].name", "name"),
        ("input not a list", {"input": 5}, "input", "input"),
        ("no input", {"max_output_tokens": 3}, "input", "input"),
        ("tool_choice required without tools", {"input": "x", "tool_choice": "required"}, "tool_choice", "no 'tools'"),
        ("tool_choice names a missing function", {"input": "x", "tool_choice": {"type": "function", "name": "f"},
                                                   "tools": [{"type": "function", "name": "g"}]}, "tool_choice", "'f'"),
        ("text.format json_schema without schema name", {"input": "x", "text": {"format": {"type": "json_schema", "schema": 5}}},
         "text.format.schema", "JSON Schema"),
        ("text.format unknown", {"input": "x", "text": {"format": {"type": "yaml"}}}, "text.format", "yaml"),
        ("json format with stop", {"input": "x", "text": {"format": {"type": "json_object"}}, "stop": ["}"]}, "stop", "stop"),
        ("temperature 3", {"input": "x", "temperature": 3}, "temperature", "temperature"),
        ("max_output_tokens 0", {"input": "x", "max_output_tokens": 0}, "max_output_tokens", "max_output_tokens"),
        ("background", {"input": "x", "background": True}, "background", "background"),
        ("unknown field", {"input": "x", "frobnicate": 1}, "frobnicate", "Unrecognized"),
        ("conversation", {"input": "x", "conversation": "c"}, "conversation", "Unrecognized"),
        ("function tool without name", {"input": "x", "tools": [{"type": "function"}]}, "tools[0].name", "tools[0].name"),
    ]
    for name, body, param, word in cases:
        st, j, _, _ = s.request("POST", "/v1/responses", body)
        err = (j or {}).get("error") or {}
        check(st == 400 and err.get("param") == param and word in err.get("message", ""),
              "%s: 400 param %s (%s %s: %s)" % (name, param, st, err.get("param"), err.get("message", "")[:90]))
    st, j, _, _ = s.request("GET", "/v1/responses/resp_nope")
    check(st == 404, "GET an unknown id: 404")
    st, j, _, _ = s.request("PUT", "/v1/responses/resp_nope")
    check(st == 405, "PUT: 405")
    long_in = {"input": "y" * 5000}
    st, j, _, _ = s.request("POST", "/v1/responses", long_in)
    msg = ((j or {}).get("error") or {}).get("message", "")
    check(st == 400 and j["error"]["code"] == "context_length_exceeded" and "-c" in msg and "per slot" in msg and "2048" in msg,
          "too long: 400 naming -c and the per-slot size (%s)" % msg[:160])
    # accepted fields Codex sends
    st, j, _, _ = s.request("POST", "/v1/responses", {
        "input": "x", "max_output_tokens": 2, "store": False, "include": ["reasoning.encrypted_content"],
        "reasoning": {"effort": "medium", "summary": "auto"}, "prompt_cache_key": "k", "parallel_tool_calls": False,
        "metadata": {"a": "b"}, "user": "u", "safety_identifier": "s", "truncation": "auto", "client_metadata": {"x": "y"},
        "text": {"format": {"type": "text"}, "verbosity": "low"}, "top_p": 0.9, "stop": ["\n\n"]})
    check(st == 200 and j["metadata"] == {"a": "b"}, "the fields agents send are accepted (%s)" % st)


SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}, "lang": {"enum": ["c", "py", "js"]}},
          "required": ["ok", "lang"], "additionalProperties": False}
TOOLS = [{"type": "function", "name": "read_file", "parameters": {
              "type": "object", "properties": {"path": {"enum": ["a.c", "b.c"]}}, "required": ["path"],
              "additionalProperties": False}},
         {"type": "function", "name": "list_dir", "parameters": {
              "type": "object", "properties": {"deep": {"type": "boolean"}}, "required": ["deep"], "additionalProperties": False}},
         {"type": "web_search"}]


def test_constrained(s):
    """text.format and tool_choice are exact (the grammar engine): checked
    with Debian's python3-jsonschema, an independent validator."""
    import jsonschema
    for seed in range(3):
        st, j, _, _ = s.request("POST", "/v1/responses", {
            "input": "Answer in JSON.", "seed": seed, "max_output_tokens": 200,
            "text": {"format": {"type": "json_schema", "name": "answer", "schema": SCHEMA, "strict": True}}})
        ok = st == 200 and j["status"] == "completed"
        try:
            jsonschema.validate(json.loads(j["output_text"]), SCHEMA)
        except Exception as ex:  # noqa: BLE001 - any failure is the check failing
            ok = False
            print("     ", ex)
        check(ok, "text.format json_schema: the answer validates (seed %d: %s)" % (seed, (j or {}).get("output_text", st)))
    st, j, _, _ = s.request("POST", "/v1/responses", {"input": "JSON", "seed": 1, "max_output_tokens": 300,
                                                      "text": {"format": {"type": "json_object"}}})
    try:
        obj = json.loads(j["output_text"]) if st == 200 and j["status"] == "completed" else None
    except ValueError:
        obj = None
    check(isinstance(obj, dict), "text.format json_object: a JSON object (%s)" % (j or {}).get("output_text", st))
    for choice, names in (("required", {"read_file", "list_dir"}), ({"type": "function", "name": "list_dir"}, {"list_dir"})):
        st, j, _, _ = s.request("POST", "/v1/responses", {"input": "Do it.", "seed": 3, "max_output_tokens": 200,
                                                          "tools": TOOLS, "tool_choice": choice})
        calls = [o for o in (j or {}).get("output", []) if o["type"] == "function_call"]
        ok = st == 200 and len(calls) >= 1 and all(c["name"] in names for c in calls)
        for c in calls if ok else []:
            schema = next(t["parameters"] for t in TOOLS if t.get("name") == c["name"])
            try:
                jsonschema.validate(json.loads(c["arguments"]), schema)
            except Exception as ex:  # noqa: BLE001
                ok = False
                print("     ", ex)
        check(ok and j["tool_choice"] == choice, "tool_choice %s: a call to %s with valid arguments (%s)" %
              (json.dumps(choice), "/".join(sorted(names)), [(c["name"], c["arguments"]) for c in calls] or st))


def test_tool_prompt(s, tmp, model):
    """Tools reach the model even when the template cannot show them: wafer's
    default tool prompt (docs/agents.md); /props says which is in use."""
    st, p, _, _ = s.request("GET", "/props")
    check(st == 200 and p["tool_prompt"] == "wafer default" and p["tool_call_format"] == "hermes" and p["n_ctx_per_slot"] == 2048,
          "/props: tool_prompt wafer default, tool_call_format hermes, n_ctx_per_slot (%s)" %
          {k: p.get(k) for k in ("tool_prompt", "tool_call_format", "n_ctx_per_slot")})
    st, m, _, _ = s.request("GET", "/v1/models")
    check(m["data"][0]["meta"]["n_ctx_slot"] == 2048, "/v1/models: the context per slot")
    tool = {"type": "function", "name": "read_file", "description": "Read a file.", "parameters": {"type": "object"}}
    base = {"input": "x", "max_output_tokens": 1}
    _, a, _, _ = s.request("POST", "/v1/responses", base)
    _, b, _, _ = s.request("POST", "/v1/responses", dict(base, tools=[tool]))
    _, c, _, _ = s.request("POST", "/v1/responses", dict(base, tools=[tool], tool_choice="none"))
    grow = b["usage"]["input_tokens"] - a["usage"]["input_tokens"]
    check(grow > len(json.dumps(tool)) and c["usage"]["input_tokens"] == a["usage"]["input_tokens"],
          "the default tool prompt carries the tools (+%d tokens; none with tool_choice none)" % grow)
    # a template that renders tools itself: no default prompt
    tmpl = os.path.join(tmp, "tools.jinja")
    with open(tmpl, "w") as f:
        f.write(C.CHATML.replace("{% for message", "{% if tools %}TOOLS {{ tools | tojson }}\n{% endif %}{% for message", 1))
    with C.Server(model, "--chat-template", tmpl) as t:
        st, p, _, _ = t.request("GET", "/props")
        check(p["tool_prompt"] == "chat template", "/props: tool_prompt chat template when the template shows tools")
        _, d, _, _ = t.request("POST", "/v1/responses", dict(base, tools=[tool]))
        _, e, _, _ = t.request("POST", "/v1/responses", base)
        check(d["usage"]["input_tokens"] - e["usage"]["input_tokens"] < grow, "... and the template's own rendering is used")


def test_prediction(s):
    st, j, _, _ = s.request("POST", "/v1/responses", {"input": "x", "max_output_tokens": 8, "temperature": 0,
                                                      "prediction": {"type": "content", "content": "abcdefgh"}})
    d = j["usage"]["output_tokens_details"] if st == 200 else {}
    check(st == 200 and "accepted_prediction_tokens" in d and "rejected_prediction_tokens" in d,
          "prediction (wafer extension): counts in usage.output_tokens_details (%s)" % d)


def test_cancel_and_hangup(big):
    # cancel by id while it runs
    c = http.client.HTTPConnection("127.0.0.1", big.port, timeout=60)
    c.request("POST", "/v1/responses", body=json.dumps({"input": "go", "max_output_tokens": 3000, "stream": True}),
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    first = b""
    while b"response.created" not in first or b"\n\n" not in first:
        first += r.read1(4096)
    rid = events(first.split(b"\n\n")[0] + b"\n\n")[0][1]["response"]["id"]
    st, j, _, _ = big.request("POST", "/v1/responses/%s/cancel" % rid)
    check(st == 200 and j["id"] == rid and j["status"] == "cancelled", "cancel a running response: status cancelled (%s)" % (j or {}).get("status"))
    rest = first + r.read()
    c.close()
    ev = events(rest)
    check(ev[-1][0] in ("response.incomplete", "response.completed") and ev[-1][1]["response"]["status"] == "cancelled" and
          ev[-1][1]["response"]["usage"]["output_tokens"] < 3000, "the stream ends at once, cancelled")
    # a client that hangs up mid-stream cancels the generation
    m0 = big.metrics()
    sock = socket.create_connection(("127.0.0.1", big.port))
    b = json.dumps({"input": "go", "max_output_tokens": 3000, "stream": True}).encode()
    sock.sendall(b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(b) + b)
    got = b""
    while got.count(b"response.output_text.delta") < 3:
        got += sock.recv(4096)
    sock.close()
    t0 = time.time()
    while time.time() - t0 < 10 and big.metrics().get("wafer_slots_busy", 1) != 0:
        time.sleep(0.01)
    m1 = big.metrics()
    check(m1.get("wafer_requests_cancelled_total", 0) >= m0.get("wafer_requests_cancelled_total", 0) + 1 and
          m1.get("wafer_slots_busy", 1) == 0, "hang-up: cancelled, slot free after %.0f ms" % ((time.time() - t0) * 1000))
    time.sleep(0.1)
    m2 = big.metrics()
    check(m2["wafer_generated_tokens_total"] == m1["wafer_generated_tokens_total"], "no tokens generated after the hang-up")


def test_hostile(tmp, model):
    with C.Server(model, "--responses-max", "3") as s:
        st, j, _, _ = s.request("POST", "/v1/responses", {"instructions": "i" * (1 << 20), "input": "x"})
        check(st == 400 and j["error"]["code"] == "context_length_exceeded", "1 MB instructions: 400 context (%s)" % st)
        items = [{"role": "user", "content": "m%d" % i} for i in range(10000)]
        st, j, _, _ = s.request("POST", "/v1/responses", {"input": items})
        check(st == 400 and j["error"]["code"] == "context_length_exceeded", "10,000 input items: 400 context (%s)" % st)
        schema = {"type": "object", "properties": {("p%05d" % i): {"type": "string", "description": "d" * 80} for i in range(1000)}}
        st, j, _, _ = s.request("POST", "/v1/responses", {"input": "x", "tools": [{"type": "function", "name": "big", "parameters": schema}]})
        check(st in (200, 400) and len(json.dumps(schema)) > 100000, "100 KB tool schema: handled (%s)" % st)
        ids = []
        for i in range(6):
            st, j, _, _ = s.request("POST", "/v1/responses", {"input": "q%d" % i, "max_output_tokens": 2})
            ids.append(j["id"])
        kept = [s.request("GET", "/v1/responses/" + i)[0] for i in ids]
        check(kept == [404, 404, 404, 200, 200, 200], "a full store (--responses-max 3) drops the least recently used: %s" % kept)
        st, j, _, _ = s.request("POST", "/v1/responses", {"input": "z", "previous_response_id": ids[0]})
        check(st == 400, "a dropped previous_response_id: 400")
        st, j, _, _ = s.request("POST", "/v1/responses", {"input": "still here", "max_output_tokens": 2})
        check(st == 200, "the server still answers")
    with C.Server(model, "--responses-mb", "0") as s:
        st, j, _, _ = s.request("POST", "/v1/responses", {"input": "q", "max_output_tokens": 2})
        st2, _, _, _ = s.request("GET", "/v1/responses/" + j["id"])
        check(st == 200 and st2 == 404, "--responses-mb 0: nothing kept")


def main():
    T.need_wafer()
    tmp = tempfile.mkdtemp(prefix="wf_responses_")
    small, big, tool = (os.path.join(tmp, n + ".gguf") for n in ("small", "big", "tool"))
    C.make_server_model(small)
    C.make_server_model(big, big=True)
    C.make_tool_model(tool)
    with C.Server(small, "--kv", "f32") as s:
        test_plain(s, small)
        test_stream(s)
        test_previous(s)
        test_errors(s)
        test_constrained(s)
        test_tool_prompt(s, tmp, small)
        test_prediction(s)
        log = "\n".join(s.log)
        check("POST /v1/responses 200" in log and "POST /v1/responses 400" in log, "the request log names the path and status")
        check("previous_response_id" in log or "not found" in log, "a 4xx is logged with its reason")
    with C.Server(tool) as t:
        test_tools(t)
    with C.Server(big, "--parallel", "1") as b:
        test_cancel_and_hangup(b)
    test_hostile(tmp, small)
    check(not C.SANITIZER_REPORTS, "no sanitizer reports from the servers")
    return T.summary("test_responses")


if __name__ == "__main__":
    sys.exit(main())
