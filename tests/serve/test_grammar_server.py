"""test_grammar_server.py — constrained answers from `wafer serve` with the
embedded model, checked by an independent validator (Debian's
python3-jsonschema), and `wafer run --grammar/--json-schema/--json`.

- 22 varied schemas x 5 seeds (number ranges and a oneOf told apart by a
  const discriminator among them) at temperature 1.0 through response_format
  json_schema (4 slots decoding together): every answer that finishes with
  "stop" parses and validates (formats checked too); at least 60 of the 100
  must finish (the test is not vacuous).
- JSON mode (json_object), streamed: the deltas join to a JSON object.
- tool_choice "required" and a named function, 10 seeds each: always one
  call (finish_reason tool_calls) to a declared function whose arguments
  validate against its parameters; with parallel_tool_calls true, 4 more
  seeds: one or more valid calls, or cut by max_tokens with none claimed
  and every complete call in the cut text valid (the embedded model keeps
  calling: at least 2 calls made in all); cut by max_tokens -> finish_reason "length".
- llama.cpp endpoints: /completion with `grammar` and `json_schema`,
  /infill with `grammar`.
- Bad schemas and grammars are 400s naming the keyword / line and column
  (a oneOf whose branches may overlap among them).
Exit 77 (skip) when python3-jsonschema is missing."""
import json
import os
import re
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import testlib as T  # noqa: E402
from testlib import check  # noqa: E402

try:
    import jsonschema
except ImportError:
    T.skip("test_grammar_server: python3-jsonschema is not installed (scripts/install-deps.sh)")

from test_server_common import WAFER, SRC, SANITIZER_REPORTS, Server, sse_events  # noqa: E402

MODEL = os.path.join(SRC, "models", "wafer-embedded.gguf")
T.print_ok = True


S = lambda **k: dict(k)
SCHEMAS = [
    S(type="object", properties={"name": S(type="string", maxLength=10), "age": S(type="integer", minimum=0, maximum=120)},
      required=["name", "age"], additionalProperties=False),
    S(type="array", items=S(type="integer"), maxItems=4),
    S(enum=["red", "green", "blue", 7, None]),
    S(type="string", pattern="^[A-Z]{3}-[0-9]{2}$"),
    S(type="string", format="date"),
    S(type="string", format="uuid"),
    {"$defs": {"point": S(type="object", properties={"x": S(type="integer"), "y": S(type="integer")}, required=["x", "y"],
                          additionalProperties=False)},
     "type": "object", "properties": {"a": {"$ref": "#/$defs/point"}, "b": {"$ref": "#/$defs/point"}}, "required": ["a", "b"],
     "additionalProperties": False},
    S(anyOf=[S(type="integer"), S(type="string", maxLength=5)]),
    S(type="boolean"),
    S(type=["string", "null"], maxLength=8),
    S(type="object", properties={"x": S(type="integer"), "y": S(type="boolean"), "z": S(type="string", maxLength=4)},
      additionalProperties=False),
    S(type="object", properties={"id": S(type="integer", minimum=1, maximum=99)}, required=["id"],
      additionalProperties=S(type="integer")),
    S(type="array", prefixItems=[S(type="string", maxLength=5), S(type="integer"), S(type="boolean")], items=False),
    S(type="integer", exclusiveMinimum=-10, exclusiveMaximum=10),
    S(const={"version": 2, "ok": True}),
    S(type="number"),
    S(type="array", items=S(type="object", properties={"k": S(enum=["a", "b"]), "v": S(type="integer")}, required=["k", "v"],
                            additionalProperties=False), minItems=1, maxItems=3),
    S(oneOf=[S(type="object", properties={"a": S(type="integer")}, required=["a"], additionalProperties=False),
             S(type="array", items=S(type="string", maxLength=3), maxItems=2)]),
    S(type="object", properties={"n": S(type=["integer", "null"]), "tags": S(type="array", items=S(type="string", maxLength=6),
                                                                                 maxItems=3)}, required=["n", "tags"],
      additionalProperties=False),
    S(type="string", minLength=2, maxLength=6),
    S(type="object", properties={"ratio": S(type="number", exclusiveMinimum=0, maximum=1), "t": S(type="number", minimum=-40.5,
                                                                                                    exclusiveMaximum=60)},
      required=["ratio", "t"], additionalProperties=False),
    S(oneOf=[S(type="object", properties={"kind": S(const="file"), "size": S(type="integer", minimum=0)}, required=["kind", "size"],
               additionalProperties=False),
             S(type="object", properties={"kind": S(const="dir"), "entries": S(type="integer", minimum=0)},
               required=["kind"], additionalProperties=False)]),
]

TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "weather in a city",
                                      "parameters": S(type="object", properties={"city": S(type="string", maxLength=12),
                                                                                 "unit": S(enum=["C", "F"])},
                                                      required=["city", "unit"], additionalProperties=False)}},
    {"type": "function", "function": {"name": "add", "parameters": S(type="object", properties={
        "a": S(type="integer", minimum=-100, maximum=100), "b": S(type="integer", minimum=-100, maximum=100)},
        required=["a", "b"], additionalProperties=False)}},
]

M = [{"role": "user", "content": "Answer in JSON."}]


def validator(schema):
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def schema_runs(srv):
    results = [None] * (len(SCHEMAS) * 5)

    def one(i):
        k, seed = divmod(i, 5)
        body = {"messages": M, "temperature": 1.0, "seed": 1000 + i, "max_tokens": 96,
                "response_format": {"type": "json_schema", "json_schema": {"name": "s%d" % k, "schema": SCHEMAS[k], "strict": True}}}
        results[i] = srv.request("POST", "/v1/chat/completions", body, timeout=120)

    idx = list(range(len(results)))
    for start in range(0, len(idx), 4):  # four at a time: the slots decode them together
        ts = [threading.Thread(target=one, args=(i,)) for i in idx[start:start + 4]]
        [t.start() for t in ts]
        [t.join() for t in ts]
    n_stop = n_len = 0
    for i, (st, j, out, _) in enumerate(results):
        k = i // 5
        if st != 200:
            check(False, "schema %d seed %d: status %d %s" % (k, i % 5, st, out[:200]))
            continue
        ch = j["choices"][0]
        if ch["finish_reason"] == "length":
            n_len += 1
            continue
        n_stop += 1
        text = ch["message"]["content"]
        try:
            inst = json.loads(text)
            errs = [e.message for e in validator(SCHEMAS[k]).iter_errors(inst)]
        except ValueError as e:
            errs = ["not JSON: %s" % e]
        if errs:
            check(False, "schema %d seed %d: %r does not validate: %s" % (k, i % 5, text, errs[:2]))
    check(n_stop + n_len == len(results), "every schema request answered (%d stop, %d length)" % (n_stop, n_len))
    check(n_stop >= 60, "most answers finish within 96 tokens (%d of %d)" % (n_stop, len(results)))
    print("     %d answers finished with stop and validated; %d were cut by max_tokens" % (n_stop, n_len))
    # each schema's five requests share one compiled grammar and its masks (two
    # running at once may both compile it: at most two misses per schema)
    m = srv.metrics()
    hits, misses = m.get("wafer_grammar_cache_hits_total", 0), m.get("wafer_grammar_cache_misses_total", 0)
    check(hits >= len(results) - 2 * len(SCHEMAS) and misses >= len(SCHEMAS) and hits + misses == len(results),
          "grammar cache over %d requests of %d schemas: %d hits, %d misses" % (len(results), len(SCHEMAS), hits, misses))
    check(0 < m.get("wafer_grammar_cache_entries", 0) <= 32, "grammar cache entries bounded: %s" % m.get("wafer_grammar_cache_entries"))
    print("     grammar cache: %d hits, %d misses, %d kept" % (hits, misses, m.get("wafer_grammar_cache_entries", 0)))


def json_mode(srv):
    body = {"messages": M, "temperature": 1.0, "seed": 5, "max_tokens": 128, "stream": True,
            "response_format": {"type": "json_object"}}
    st, _, out, _ = srv.request("POST", "/v1/chat/completions", body)
    evs = [json.loads(e) for e in sse_events(out) if e != "[DONE]"]
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in evs if e.get("choices"))
    fin = [e["choices"][0]["finish_reason"] for e in evs if e.get("choices") and e["choices"][0].get("finish_reason")]
    if fin == ["stop"]:
        ok = False
        try:
            ok = isinstance(json.loads(text), dict)
        except ValueError:
            pass
        check(ok, "json_object streamed: an object %r" % text)
    else:
        check(fin == ["length"], "json_object streamed: finish %s" % fin)


def tool_runs(srv):
    params = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}
    n_multi = 0
    n_par = n_cut_calls = 0
    for mode in ("required", "named", "parallel"):
        for seed in range(10 if mode != "parallel" else 4):
            choice = {"type": "function", "function": {"name": "add"}} if mode == "named" else "required"
            body = {"messages": M, "tools": TOOLS, "tool_choice": choice, "temperature": 1.0, "seed": 77 + seed, "max_tokens": 200}
            if mode == "parallel":
                body["parallel_tool_calls"] = True
            st, j, out, _ = srv.request("POST", "/v1/chat/completions", body)
            if st != 200:
                check(False, "tool %s seed %d: status %d" % (mode, seed, st))
                continue
            ch = j["choices"][0]
            calls = ch["message"].get("tool_calls") or []
            # parallel_tool_calls true: one call or more, or cut by max_tokens (a weak
            # model may keep calling); otherwise exactly one
            if mode == "parallel" and ch["finish_reason"] == "length":
                # the complete calls in the cut text must each be valid (the grammar holds between them)
                blocks = re.findall(r"<tool_call>\n(.*?)\n</tool_call>", ch["message"].get("content") or "", re.S)
                ok = not calls
                for b in blocks:
                    try:
                        c = json.loads(b)
                        ok = ok and c["name"] in params and not list(validator(params[c["name"]]).iter_errors(c["arguments"]))
                    except (ValueError, KeyError, TypeError):
                        ok = False
                n_cut_calls += len(blocks)
                check(ok, "tool_choice parallel seed %d: cut by max_tokens, no calls claimed, its %d complete calls valid"
                      % (seed, len(blocks)))
                continue
            good = ch["finish_reason"] == "tool_calls" and (len(calls) >= 1 if mode == "parallel" else len(calls) == 1)
            n_multi += len(calls) > 1
            n_par += mode == "parallel"
            for c in calls:
                name = c["function"]["name"]
                good = good and name in params and (mode != "named" or name == "add")
                try:
                    args = json.loads(c["function"]["arguments"])
                    good = good and not list(validator(params[name]).iter_errors(args))
                except (ValueError, KeyError):
                    good = False
            check(good, "tool_choice %s seed %d: %d valid call(s) %s" % (mode, seed, len(calls), json.dumps(calls)[:160]))
    print("     parallel_tool_calls true: %d of 4 answers finished with calls, %d with more than one" % (n_par, n_multi))
    check(n_par + n_cut_calls >= 2, "parallel_tool_calls true: several calls made (%d finished answers, %d complete calls in cut ones)"
          % (n_par, n_cut_calls))
    body = {"messages": M, "tools": TOOLS, "tool_choice": "required", "seed": 1, "max_tokens": 4}
    st, j, _, _ = srv.request("POST", "/v1/chat/completions", body)
    ch = j["choices"][0] if st == 200 else {}
    check(st == 200 and ch.get("finish_reason") == "length" and not ch["message"].get("tool_calls"),
          "a forced call cut by max_tokens: finish_reason length, no call")


def llama_endpoints(srv):
    st, j, _, _ = srv.request("POST", "/completion", {"prompt": "x = ", "grammar": 'root ::= [0-9]{1,4} ";"', "n_predict": 12, "seed": 3})
    check(st == 200 and re.fullmatch(r"[0-9]{1,4};", j["content"]) is not None and j["stop_type"] == "eos",
          "/completion grammar: %r" % (j or {}).get("content"))
    sch = S(type="array", items=S(type="integer", minimum=0, maximum=9), minItems=1, maxItems=3)
    st, j, _, _ = srv.request("POST", "/completion", {"prompt": "v = ", "json_schema": sch, "n_predict": 40, "seed": 4})
    ok = st == 200 and j["stop_type"] == "eos"
    try:
        ok = ok and not list(validator(sch).iter_errors(json.loads(j["content"])))
    except ValueError:
        ok = False
    check(ok, "/completion json_schema: %r" % (j or {}).get("content"))
    st, j, _, _ = srv.request("POST", "/infill", {"input_prefix": "def f():\n    return ", "input_suffix": "\n",
                                                  "grammar": 'root ::= "x" [a-z]{0,3}', "n_predict": 8})
    check(st == 200 and re.fullmatch(r"x[a-z]{0,3}", j["content"]) is not None, "/infill grammar: %r" % (j or {}).get("content"))


def bad_requests(srv):
    cases = [
        ("unsupported keyword", "/v1/chat/completions",
         {"messages": M, "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": S(type="object", minProperties=1)}}},
         "minProperties"),
        ("overlapping oneOf", "/v1/chat/completions",
         {"messages": M, "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": S(oneOf=[
             S(type="integer"), S(type="number")])}}}, "'oneOf'"),
        ("unresolvable $ref", "/v1/chat/completions",
         {"messages": M, "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"$ref": "#/$defs/nope"}}}},
         "#/$defs/nope"),
        ("tool parameters", "/v1/chat/completions",
         {"messages": M, "tool_choice": "required",
          "tools": [{"type": "function", "function": {"name": "f", "parameters": S(type="object", patternProperties={"^a": {}})}}]},
         "patternProperties"),
        ("named tool missing", "/v1/chat/completions",
         {"messages": M, "tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "nope"}}}, "nope"),
        ("required without tools", "/v1/chat/completions", {"messages": M, "tool_choice": "required"}, "no 'tools'"),
        ("stop with a schema", "/v1/chat/completions",
         {"messages": M, "stop": ["}"], "response_format": {"type": "json_object"}}, "'stop'"),
        ("bad grammar", "/completion", {"prompt": "x", "grammar": 'root ::= "a"\nb ::= [z-a]'}, "line 2, column"),
        ("bad json_schema", "/completion", {"prompt": "x", "json_schema": S(type="strin")}, "strin"),
        ("grammar and json_schema", "/completion", {"prompt": "x", "grammar": "root ::= \"a\"", "json_schema": {}}, "not both"),
    ]
    for name, path, body, want in cases:
        st, j, out, _ = srv.request("POST", path, body)
        msg = ((j or {}).get("error") or {}).get("message", "")
        check(st == 400 and want in msg, "%s: 400 naming it (%d %s)" % (name, st, msg[:120]))


def cli_runs():
    with tempfile.TemporaryDirectory() as d:
        sch = S(type="object", properties={"k": S(type="string", maxLength=6), "n": S(type="integer", minimum=0, maximum=9)},
                required=["k", "n"], additionalProperties=False)
        sp, gp = os.path.join(d, "s.json"), os.path.join(d, "g.gbnf")
        with open(sp, "w") as f:
            json.dump(sch, f)
        with open(gp, "w") as f:
            f.write('root ::= "(" [a-z]+ ")"\n')
        # (the prompts are ones after which the embedded model's greedy answer ends within
        # 64 tokens: after "data = " its JSON mode writes a string that never closes)
        for prompt, flags, test in (("data = ", ["--json-schema", sp], lambda t: not list(validator(sch).iter_errors(json.loads(t)))),
                                    ("data = ", ["--grammar", gp], lambda t: re.fullmatch(r"\([a-z]+\)", t) is not None),
                                    ("config = ", ["--json"], lambda t: isinstance(json.loads(t), dict))):
            rc, out, _ = T.wafer("run", "-m", MODEL, "-p", prompt, "-n", "64", "--temp", "0", "-q", *flags,
                                 text=True, timeout=60)
            t = out.strip()
            try:
                ok = rc == 0 and test(t)
            except ValueError:
                ok = False
            check(ok, "wafer run %s: %r" % (flags[0], t[:80]))
        with open(gp, "w") as f:
            f.write('root ::= "(" x\n')
        rc, _, err = T.wafer("run", "-m", MODEL, "-p", "x", "--grammar", gp, timeout=60)
        check(rc != 0 and "line 1, column 14: undefined rule 'x'" in err, "wafer run --grammar: a bad grammar names line and column")


def main():
    if not WAFER or not os.path.exists(MODEL):
        print("test_grammar_server: no wafer binary or embedded model")
        return 1
    with Server(MODEL, "--parallel", 4, "-t", 2) as srv:
        schema_runs(srv)
        json_mode(srv)
        tool_runs(srv)
        llama_endpoints(srv)
        bad_requests(srv)
    cli_runs()
    check(not SANITIZER_REPORTS, "no sanitizer reports")
    return T.summary("test_grammar_server")


if __name__ == "__main__":
    sys.exit(main())
