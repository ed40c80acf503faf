#!/usr/bin/python3
"""test_template_py.py — `wafer template` against Debian's python3-jinja2.

Every real template in $WAFER_SHARED/templates is rendered by wafer and by
jinja2 configured the way Hugging Face transformers runs chat templates
(ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols,
tojson = json.dumps(ensure_ascii=False, ...), raise_exception,
strftime_now), with several message sets, with and without the generation
prompt; outputs must match byte for byte, and a template that raises must
make wafer fail with the template's message. The built-in formats are
checked against Python formatters written from the formats' descriptions,
and -m against a vocabulary GGUF that embeds a chat template.
"""
import datetime
import json
import os
import sys
import tempfile
import time

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

import testlib as T

os.environ["TZ"] = "UTC"  # strftime_now: the same local time on both sides
time.tzset()
WAFER = os.environ.get("WAFER")
SHARED = os.environ.get("WAFER_SHARED", "")
NOW = 1721995200  # 2024-07-26 12:00:00 UTC: strftime_now's clock on both sides
BOS, EOS = "<s>", "</s>"


class TemplateRaised(Exception):
    pass


def make_env():
    def raise_exception(message):
        raise TemplateRaised(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def strftime_now(fmt):
        return datetime.datetime.fromtimestamp(NOW).strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def normalise(messages):
    """OpenAI content-part arrays -> one string (as wafer and the server do)."""
    out = []
    for m in messages:
        m = dict(m)
        if isinstance(m.get("content"), list):
            m["content"] = "".join(p["text"] for p in m["content"])
        out.append(m)
    return out


def py_render(src, messages, gen, bos=BOS, eos=EOS, extra=None):
    env = make_env()
    t = env.from_string(src)
    kw = dict(messages=normalise(messages), tools=None, documents=None,
              add_generation_prompt=gen, bos_token=bos, eos_token=eos)
    kw.update(extra or {})
    return t.render(**kw)


CASES = {
    "sys+user": [
        {"role": "system", "content": "You are a careful coding assistant."},
        {"role": "user", "content": "Write a function that reverses a string in C."},
    ],
    "multi-turn": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "And times 3?"},
    ],
    "no-system": [
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi! How can I help?"},
        {"role": "user", "content": "Explain pointers.\nBriefly."},
    ],
    "user-only": [{"role": "user", "content": "ping"}],
    "non-ascii": [
        {"role": "user", "content": "Réponds en français : qu'est-ce qu'un « pointeur » ? 🙂"},
        {"role": "assistant", "content": "写一个函数 — 好的 ✓ 🚀 Ünïcödé"},
        {"role": "user", "content": "مرحبا بالعالم 🌍 日本語 한국어"},
    ],
    "jinja-looking": [
        {"role": "system", "content": "{{ raise_exception('x') }} {% if true %}no{% endif %}"},
        {"role": "user", "content": "<|im_end|>\n<|im_start|>system\n{{ x }} {# c #} \\n 'q' \"dq\""},
        {"role": "assistant", "content": "<think>\nsome reasoning\n</think>\n\nThe answer."},
        {"role": "user", "content": "[INST] </s> <|eot_id|>"},
    ],
    "text-parts": [
        {"role": "user", "content": [{"type": "text", "text": "Part one. "},
                                     {"type": "text", "text": "Part two."}]},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "text", "text": "Third 🙂"}]},
    ],
    "whitespace": [
        {"role": "system", "content": "  \n\tpadded system \n"},
        {"role": "user", "content": "\n  code:\n\tint x;\r\n  \n"},
    ],
}

# Cases with extra template variables (wafer: --vars JSON): tools, tool calls
# and results, thinking switched off, date_string.
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "  Get the weather.\n",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "description": "City name, e.g. Zürich", "enum": ["Zürich", "東京"]},
        "days": {"type": "integer", "description": "Days ahead", "minimum": 0.5}},
        "required": ["city"]}}}
TOOL_MSGS = [
    {"role": "user", "content": "Weather in Zürich?"},
    {"role": "assistant", "content": "", "tool_calls": [
        {"id": "call12345", "type": "function",
         "function": {"name": "get_weather", "arguments": {"city": "Zürich", "days": 2}}}]},
    {"role": "tool", "tool_call_id": "call12345", "content": "{\"temp_c\": 18.5, \"sky\": \"cloudy ☁\"}"},
    {"role": "assistant", "content": "It is 18.5 °C and cloudy."},
    {"role": "user", "content": "Thanks"},
]
VAR_CASES = {
    "tools": (TOOL_MSGS, {"tools": [WEATHER_TOOL]}),
    "no-think": (CASES["multi-turn"], {"enable_thinking": False, "date_string": "01 Jan 2025"}),
}


def run_wafer(args, env_extra=None):
    env = dict(os.environ)
    env["WAFER_TEMPLATE_NOW"] = str(NOW)
    if env_extra:
        env.update(env_extra)
    return T.wafer("template", *args, env=env, timeout=60)


def first_diff(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def compare(name, case, expected, exc, rc, out, err):
    if exc is not None:
        if rc == 0:
            T.fail("%s/%s: jinja2 raised %r but wafer succeeded" % (name, case, exc))
            return "FAIL"
        if isinstance(exc, TemplateRaised) and str(exc) not in err:
            T.fail("%s/%s: wafer error %r lacks the template's message %r" % (name, case, err.strip(), str(exc)))
            return "FAIL"
        return "raise"
    if rc != 0:
        T.fail("%s/%s: wafer failed (rc %d): %s" % (name, case, rc, err.strip()))
        return "FAIL"
    exp = expected.encode("utf-8")
    if out != exp:
        i = first_diff(out, exp)
        T.fail("%s/%s: differs at byte %d\n  wafer:  %r\n  jinja2: %r" %
               (name, case, i, out[max(0, i - 40):i + 60], exp[max(0, i - 40):i + 60]))
        return "FAIL"
    return "ok"


# Independent formatters for the built-in formats, from their descriptions.
DS_SYSTEM = ("You are an AI programming assistant, utilizing the Deepseek Coder model, developed by "
             "Deepseek Company, and you only answer questions related to computer science. For "
             "politically sensitive questions, security and privacy issues, and other non-computer "
             "science questions, you will refuse to answer\n")


def fmt_chatml(msgs, gen, bos, eos):
    s = "".join("<|im_start|>%s\n%s<|im_end|>\n" % (m["role"], m["content"]) for m in msgs)
    return s + ("<|im_start|>assistant\n" if gen else "")


def fmt_deepseek_coder(msgs, gen, bos, eos):
    s = bos
    if not any(m["role"] == "system" for m in msgs):
        s += DS_SYSTEM
    for m in msgs:
        if m["role"] == "system":
            s += m["content"] + "\n"
        elif m["role"] == "user":
            s += "### Instruction:\n" + m["content"] + "\n"
        else:
            s += "### Response:\n" + m["content"] + "\n<|EOT|>\n"
    return s + ("### Response:\n" if gen else "")


# ---- differential fuzzing: random templates, wafer vs jinja2 -------------
# Whitespace control (trim_blocks/lstrip_blocks/-/+) around nested blocks, and
# random expressions over operators, filters, tests, methods and subscripts.
# Where both succeed the bytes must match; where jinja2 fails wafer must fail;
# wafer may refuse (exit 1 with one of REFUSALS) what it does not support.
WS = ["", " ", "  ", "\n", " \n", "\n  ", "\t", "\n\n", "  \n  ", "x", "a b", "\n x \n"]
F_EXPRS = ["m.role", "loop.index", "'s'", "1 + 2", "m.content|trim", "messages|length", "ns.n",
           "m['content']", "loop.first", "none", "x|default('d')"]
F_CONDS = ["loop.first", "m.role == 'user'", "true", "false", "not loop.last", "m.content", "ns.n > 1"]


def gen_blocks(r, depth=0):
    def mod():
        return r.choice(["", "", "-", "+"])

    def emod():
        return r.choice(["", "", "-"])
    out = []
    for _ in range(r.randint(1, 5)):
        k = r.random()
        out.append(r.choice(WS))
        if k < 0.3:
            out.append("{{%s %s %s}}" % (emod(), r.choice(F_EXPRS), emod()))
        elif k < 0.45:
            out.append("{#%s c %s#}" % (mod(), emod()))
        elif k < 0.6 and depth < 3:
            out.append("{%%%s if %s %s%%}" % (mod(), r.choice(F_CONDS), emod()))
            out.append(gen_blocks(r, depth + 1))
            if r.random() < .4:
                out.append("{%%%s else %s%%}" % (mod(), emod()))
                out.append(gen_blocks(r, depth + 1))
            out.append("{%%%s endif %s%%}" % (mod(), emod()))
        elif k < 0.75 and depth < 2:
            out.append("{%%%s for m in messages %s%%}" % (mod(), emod()))
            out.append(gen_blocks(r, depth + 1))
            out.append("{%%%s endfor %s%%}" % (mod(), emod()))
        elif k < 0.85:
            out.append("{%%%s set ns.n = ns.n + 1 %s%%}" % (mod(), emod()))
    return "".join(out)


ATOMS = ["1", "0", "-3", "2.5", "0.1", "1e3", "'ab'", "''", "' x '", "'é🙂'", "true", "false", "none",
         "[1, 2]", "[]", "['a', 'b']", "{'k': 1}", "{}", "(1, 'x')", "messages", "messages[0]",
         "messages[1].content", "m", "undefinedv", "'a,b'", "3", "7", "-0.5", "'A b'"]
BINOPS = ["+", "-", "*", "/", "//", "%", "~", "==", "!=", "<", ">", "<=", ">=", "in", "not in", "and", "or"]
FILTERS = ["length", "string", "trim", "upper", "lower", "first", "last", "list", "tojson", "int", "float",
           "abs", "reverse|list", "join", "join(',')", "default('d')", "items|list", "capitalize", "title", "e",
           "count", "map('string')|list", "select|list", "reject('none')|list"]
TESTS = ["defined", "none", "string", "number", "iterable", "mapping", "sequence", "odd", "even", "integer",
         "float", "boolean", "true", "false", "undefined"]
METHODS = [".strip()", ".split()", ".split(',')", ".upper()", ".lower()", ".startswith('a')", ".endswith('b')",
           ".replace('a','z')", ".lstrip()", ".rstrip()", ".title()", ".keys()|list", ".items()|list", ".get('k')",
           ".values()|list"]
REFUSALS = ["not subscriptable with a slice", "cannot print a generator", "items: can only get item pairs",
            "unsupported", "not supported between", "case conversion of non-ASCII"]


def gen_expr(r, d=0):
    k = r.random()
    if d > 3 or k < 0.3:
        return r.choice(ATOMS)
    if k < 0.55:
        return "(%s %s %s)" % (gen_expr(r, d + 1), r.choice(BINOPS), gen_expr(r, d + 1))
    if k < 0.7:
        return "(%s|%s)" % (gen_expr(r, d + 1), r.choice(FILTERS))
    if k < 0.78:
        return "(%s is %s%s)" % (gen_expr(r, d + 1), r.choice(["", "not "]), r.choice(TESTS))
    if k < 0.86:
        return "%s%s" % (r.choice(["'aBc'", "' a,b '", "messages[0]", "{'k': 2}", "m.content"]), r.choice(METHODS))
    if k < 0.92:
        return "(%s)[%s]" % (gen_expr(r, d + 1), r.choice(["0", "-1", "1:", "::-1", ":1", "'k'", "5"]))
    if k < 0.96:
        return "(not %s)" % gen_expr(r, d + 1)
    return "(%s if %s else %s)" % (gen_expr(r, d + 1), gen_expr(r, d + 1), gen_expr(r, d + 1))


def fuzz(tmp, kind, n, seed):
    import random
    import warnings
    warnings.simplefilter("ignore")  # jinja2's constant folding warns on odd literals
    r = random.Random(seed)
    msgs = [{"role": "system", "content": "sys"}, {"role": "user", "content": " hi\n"},
            {"role": "assistant", "content": "yo"}]
    mf = os.path.join(tmp, "fuzz.json")
    with open(mf, "w") as f:
        json.dump(msgs, f)
    tf = os.path.join(tmp, "fuzz.jinja")
    stats = {"same": 0, "both-fail": 0, "refused": 0, "bad": 0}
    for _ in range(n):
        if kind == "blocks":
            t = "{% set ns = namespace(n=0) %}{% set m = messages[1] %}" + gen_blocks(r) + r.choice(["", "\n", "\n\n", " "])
        else:
            t = "{% for m in messages %}{% if loop.first %}{{ " + gen_expr(r) + " }}{% endif %}{% endfor %}"
        with open(tf, "w", encoding="utf-8") as f:
            f.write(t)
        exc, exp = None, None
        try:
            exp = py_render(t, msgs, True)
        except Exception as e:
            exc = e
        rc, out, err = run_wafer(["--chat-template", tf, "--messages", mf])
        if exc is not None:
            ok = rc == 1
            stats["both-fail" if ok else "bad"] += 1
            why = "jinja2 raised %r, wafer rc %d" % (exc, rc)
        elif rc == 0:
            ok = out == exp.encode("utf-8")
            stats["same" if ok else "bad"] += 1
            why = "wafer %r, jinja2 %r" % (out, exp)
        else:
            ok = rc == 1 and any(x in err for x in REFUSALS)
            stats["refused" if ok else "bad"] += 1
            why = "wafer failed (%s), jinja2 gave %r" % (err.strip(), exp)
        if not ok:
            T.fail("fuzz-%s: %r: %s" % (kind, t, why))
    print("fuzz %-11s seed %d: %s" % (kind, seed, ", ".join("%s %d" % kv for kv in stats.items())))


def fmt_llama3(msgs, gen, bos, eos):
    s = bos + "".join("<|start_header_id|>%s<|end_header_id|>\n\n%s<|eot_id|>" % (m["role"], m["content"].strip())
                      for m in msgs)
    return s + ("<|start_header_id|>assistant<|end_header_id|>\n\n" if gen else "")


def fmt_qwen25(msgs, gen, bos, eos):
    if msgs and msgs[0]["role"] == "system":
        s, rest = "<|im_start|>system\n%s<|im_end|>\n" % msgs[0]["content"], msgs[1:]
    else:
        s, rest = "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n", msgs
    s += "".join("<|im_start|>%s\n%s<|im_end|>\n" % (m["role"], m["content"]) for m in rest)
    return s + ("<|im_start|>assistant\n" if gen else "")


def main():
    if not WAFER or not os.path.exists(WAFER):
        print("WAFER not built")
        return 1
    tdir = os.path.join(SHARED, "templates") if SHARED else ""
    if not tdir or not os.path.isdir(tdir):
        T.skip("no shared templates at %r" % tdir)
    names = sorted(f for f in os.listdir(tdir) if f.endswith(".jinja"))
    table = []
    with tempfile.TemporaryDirectory() as tmp:
        mfiles = {}
        for case, (msgs, _) in VAR_CASES.items():
            p = os.path.join(tmp, case + ".json")
            with open(p, "w", encoding="utf-8") as f:
                json.dump(msgs, f, ensure_ascii=False)
            mfiles[case] = p
        for case, msgs in CASES.items():
            p = os.path.join(tmp, case + ".json")
            with open(p, "w", encoding="utf-8") as f:
                json.dump(msgs, f, ensure_ascii=False)
            mfiles[case] = p
        cols = []
        for case in CASES:
            for gen in (True, False):
                cols.append((case, gen))
        for name in names:
            path = os.path.join(tdir, name)
            with open(path, encoding="utf-8") as f:
                src = f.read()
            row = []
            for case, gen in cols:
                exc, expected = None, None
                try:
                    expected = py_render(src, CASES[case], gen)
                except Exception as e:  # TemplateRaised or a jinja2 error
                    exc = e
                args = ["--chat-template", path, "--messages", mfiles[case], "--bos", BOS, "--eos", EOS]
                if not gen:
                    args.append("--no-generation-prompt")
                rc, out, err = run_wafer(args)
                row.append(compare(name, "%s%s" % (case, "" if gen else "/nogen"), expected, exc, rc, out, err))
            for case, (msgs, extra) in VAR_CASES.items():
                exc, expected = None, None
                try:
                    expected = py_render(src, msgs, True, extra=extra)
                except Exception as e:
                    exc = e
                args = ["--chat-template", path, "--messages", mfiles[case], "--bos", BOS, "--eos", EOS,
                        "--vars", json.dumps(extra, ensure_ascii=False)]
                rc, out, err = run_wafer(args)
                row.append(compare(name, case, expected, exc, rc, out, err))
            table.append((name, row))

        # built-in formats vs independent formatters
        for bname, fmt in (("chatml", fmt_chatml), ("deepseek-coder", fmt_deepseek_coder),
                           ("llama3", fmt_llama3), ("qwen2.5", fmt_qwen25)):
            row = []
            for case, gen in cols:
                expected = fmt(normalise(CASES[case]), gen, BOS, EOS)
                args = ["--chat-template", bname, "--messages", mfiles[case], "--bos", BOS, "--eos", EOS]
                if not gen:
                    args.append("--no-generation-prompt")
                rc, out, err = run_wafer(args)
                row.append(compare("builtin:" + bname, case, expected, None, rc, out, err))
            table.append(("builtin:" + bname, row))

        # -m: a vocabulary GGUF with an embedded template; bos/eos from its vocabulary
        vocab = os.path.join(SHARED, "vocab", "ggml-vocab-phi-3.gguf")
        if os.path.exists(vocab):
            from gguf_py import read_gguf
            g = read_gguf(vocab)
            src = g.kv["tokenizer.chat_template"]
            toks = g.kv["tokenizer.ggml.tokens"]
            bos = toks[g.kv["tokenizer.ggml.bos_token_id"]]
            eos = toks[g.kv["tokenizer.ggml.eos_token_id"]]
            row = []
            for case, gen in cols:
                exc, expected = None, None
                try:
                    expected = py_render(src, CASES[case], gen, bos, eos)
                except Exception as e:
                    exc = e
                args = ["-m", vocab, "--messages", mfiles[case]]
                if not gen:
                    args.append("--no-generation-prompt")
                rc, out, err = run_wafer(args)
                row.append(compare("-m phi-3", case, expected, exc, rc, out, err))
            table.append(("-m ggml-vocab-phi-3", row))

        fuzz(tmp, "blocks", 300, 1)
        fuzz(tmp, "expressions", 600, 2)

        # usage errors and bad input
        # without -m and --chat-template the default (embedded) model is used,
        # with its own template
        rc, out, err = run_wafer(["--messages", mfiles["user-only"]])
        if rc != 0 or not out.startswith(b"<|im_start|>system\n"):
            T.fail("no arguments: expected the embedded model's template, got %d %r" % (rc, out[:60]))
        # a model without a chat template: said, not guessed
        import gguf_py
        src = gguf_py.read_gguf(os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                             "models", "wafer-embedded.gguf"))
        bare = os.path.join(tmp, "no-template.gguf")
        w = gguf_py.GGUFWriter(bare)
        w.add_kv("general.architecture", "llama")
        for k, v in src.kv.items():
            if k.startswith("tokenizer.") and k != "tokenizer.chat_template":
                vt = src.kv_types[k]
                w.add_kv(k, v, vt, src.arr_types.get(k) if vt == gguf_py.ARRAY else None)
        w.write()
        rc, _, err = run_wafer(["-m", bare, "--messages", mfiles["user-only"]])
        if rc == 0 or "chat_template" not in str(err):
            T.fail("no template: expected an error naming the missing chat template, got %d" % rc)
        bad = os.path.join(tmp, "bad.json")
        with open(bad, "w") as f:
            f.write('[{"role": "user", "content": ')
        rc, _, err = run_wafer(["--chat-template", "chatml", "--messages", bad])
        if rc != 1 or "JSON" not in err:
            T.fail("bad JSON: expected exit 1 naming JSON, got %d %r" % (rc, err))
        badt = os.path.join(tmp, "bad.jinja")
        with open(badt, "w") as f:
            f.write("{{ messages | frobnicate }}")
        rc, _, err = run_wafer(["--chat-template", badt, "--messages", mfiles["user-only"]])
        if rc != 1 or "frobnicate" not in err:
            T.fail("unknown filter: expected exit 1 naming it, got %d %r" % (rc, err))

    w = max(len(n) for n, _ in table)
    heads = ["%s%s" % (c[:10], "" if g else "/-g") for c, g in cols] + list(VAR_CASES)
    print("%-*s  %s" % (w, "template", " ".join(heads)))
    for name, row in table:
        print("%-*s  %s" % (w, name, " ".join("%-*s" % (len(h), r) for h, r in zip(heads, row))))
    n_ok = sum(r in ("ok", "raise") for _, row in table for r in row)
    n_all = sum(len(row) for _, row in table)
    print("%d/%d renders agree (ok = same bytes, raise = both raised)" % (n_ok, n_all))
    return T.summary("test_template_py")


if __name__ == "__main__":
    sys.exit(main())
