#!/usr/bin/python3
"""test_harmony_template.py — a gpt-oss "harmony" chat template
(tests/chat/harmony.jinja, written for these tests from the format's public
description) rendered by `wafer template` and by Debian's python3-jinja2 with
transformers' settings (test_template_py's environment), byte for byte, over
the plain conversations of test_template_py, tools (TypeScript-like
namespace with nested, enum, optional and default-valued parameters), tool
calls and results, the reasoning kept before a tool call in the current
turn, the reasoning effort variable, and a tool result with no call before
it (both raise). The plain renders are also checked against a formatter of
the format written here from its description, so the template itself says
what harmony says (not only what jinja2 makes of it)."""
import json
import os
import sys
import tempfile

import test_template_py as P
import testlib as T

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATE = os.path.join(HERE, "harmony.jinja")
DATE = "2024-07-26"  # strftime_now at P.NOW on both sides

TOOLS = [
    P.WEATHER_TOOL,
    {"type": "function", "function": {"name": "list_files", "description": "List the repository's files."}},
    {"type": "function", "function": {
        "name": "edit", "description": "Edit a file.",
        "parameters": {"type": "object", "required": ["path", "edits"], "properties": {
            "path": {"type": "string"},
            "edits": {"type": "array", "description": "Replacements, in order",
                      "items": {"type": "object", "required": ["old"], "properties": {
                          "old": {"type": "string"}, "new": {"type": ["string", "null"]}}}},
            "dry_run": {"type": "boolean", "default": False},
            "mode": {"type": "string", "enum": ["strict", "loose"], "default": "strict"}}}}},
]

CALL_TURN = [
    {"role": "system", "content": "You are a coding agent."},
    {"role": "user", "content": "Fix the bug in a.c"},
    {"role": "assistant", "content": "", "reasoning_content": "I should read the file first.",
     "tool_calls": [{"id": "c1", "type": "function",
                     "function": {"name": "edit", "arguments": "{\"path\":\"a.c\",\"edits\":[{\"old\":\"x\"}]}"}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "ok: 1 edit"},
]
OLD_REASONING = [
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello.", "reasoning_content": "A greeting: answer briefly."},
    {"role": "user", "content": "List files"},
    {"role": "assistant", "content": "Here:", "tool_calls": [
        {"id": "c2", "type": "function", "function": {"name": "list_files", "arguments": {}}}]},
    {"role": "tool", "content": "a.c b.c"},
]
ORPHAN_TOOL = [{"role": "user", "content": "x"}, {"role": "tool", "content": "result"}]


def harmony(msgs, gen, effort="medium", tools=False):
    """The harmony text for conversations without tools, from the format's
    description: system message (identity, cutoff, date, reasoning, channels),
    developer instructions, user and final-channel assistant messages."""
    s = ("<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"
         "Knowledge cutoff: 2024-06\nCurrent date: %s\n\nReasoning: %s\n\n"
         "# Valid channels: analysis, commentary, final. Channel must be included for every message.<|end|>"
         % (DATE, effort))
    instr = "\n\n".join(m["content"] for m in msgs if m["role"] in ("system", "developer"))
    if instr:
        s += "<|start|>developer<|message|># Instructions\n\n%s<|end|>" % instr
    for m in msgs:
        if m["role"] == "user":
            s += "<|start|>user<|message|>%s<|end|>" % m["content"]
        elif m["role"] == "assistant":
            s += "<|start|>assistant<|channel|>final<|message|>%s<|end|>" % m["content"]
    return s + ("<|start|>assistant" if gen else "")


def main():
    T.need_wafer()
    src = open(TEMPLATE, encoding="utf-8").read()
    tmp = tempfile.mkdtemp(prefix="wf_harmony_tmpl_")
    cases = [(n, m, {}, g) for n, m in P.CASES.items() for g in (True, False)]
    cases += [("tools", P.TOOL_MSGS, {"tools": [P.WEATHER_TOOL]}, True),
              ("tools3", CALL_TURN, {"tools": TOOLS}, True),
              ("old-reasoning", OLD_REASONING, {"tools": TOOLS, "reasoning_effort": "high"}, True),
              ("effort-low", P.CASES["multi-turn"], {"reasoning_effort": "low"}, True),
              ("orphan-tool", ORPHAN_TOOL, {}, True)]
    for name, msgs, extra, gen in cases:
        mf = os.path.join(tmp, "m.json")
        with open(mf, "w", encoding="utf-8") as f:
            json.dump(msgs, f, ensure_ascii=False)
        exc, expected = None, None
        try:
            expected = P.py_render(src, msgs, gen, extra=extra)
        except Exception as e:  # noqa: BLE001 (the template raises on purpose)
            exc = e
        args = ["--chat-template", TEMPLATE, "--messages", mf, "--bos", P.BOS, "--eos", P.EOS,
                "--vars", json.dumps(extra, ensure_ascii=False)]
        if not gen:
            args.append("--no-generation-prompt")
        rc, out, err = P.run_wafer(args)
        label = "%s%s" % (name, "" if gen else "/-g")
        verdict = P.compare("harmony", label, expected, exc, rc, out, err)
        T.check(verdict in ("ok", "raise"), "harmony/%s: wafer == jinja2 (%s)" % (label, verdict))
        if name == "orphan-tool":
            T.check(verdict == "raise" and "without a tool call" in str(err), "a tool result with no call: both raise")
        if name in P.CASES and expected is not None:
            want = harmony(P.normalise(msgs), gen)
            T.check(expected == want, "harmony/%s: the render is the format's text%s" %
                    (label, "" if expected == want else ":\n  got  %r\n  want %r" % (expected, want)))
        if name == "tools3" and expected is not None:
            for part in ("Calls to these tools must go to the commentary channel: 'functions'.<|end|>",
                         "<|start|>developer<|message|># Instructions\n\nYou are a coding agent.\n\n# Tools\n\n"
                         "## functions\n\nnamespace functions {\n\n",
                         "// Get the weather.\ntype get_weather = (_: {\n// City name, e.g. Zürich\n"
                         "city: \"Zürich\" | \"東京\",\n// Days ahead\ndays?: number,\n}) => any;\n\n",
                         "// List the repository's files.\ntype list_files = () => any;\n\n",
                         "path: string,\n// Replacements, in order\nedits: {\nold: string,\nnew?: string | null,\n}[],\n"
                         "dry_run?: boolean, // default: false\nmode?: \"strict\" | \"loose\", // default: \"strict\"\n",
                         "} // namespace functions<|end|>",
                         "<|start|>assistant<|channel|>analysis<|message|>I should read the file first.<|end|>"
                         "<|start|>assistant<|channel|>commentary to=functions.edit <|constrain|>json<|message|>"
                         "{\"path\":\"a.c\",\"edits\":[{\"old\":\"x\"}]}<|call|>"
                         "<|start|>functions.edit to=assistant<|channel|>commentary<|message|>ok: 1 edit<|end|>"
                         "<|start|>assistant"):
                T.check(part in expected, "tools3: the render holds %r" % part[:70])
        if name == "old-reasoning" and expected is not None:
            T.check("A greeting" not in expected and "Reasoning: high" in expected,
                    "an earlier turn's reasoning is dropped; reasoning_effort is used")
            T.check("<|start|>assistant<|channel|>commentary<|message|>Here:<|end|><|start|>assistant<|channel|>"
                    "commentary to=functions.list_files <|constrain|>json<|message|>{}<|call|>"
                    "<|start|>functions.list_files to=assistant" in expected,
                    "a preamble, a call with object arguments, a result named from the call")
    return T.summary("test_harmony_template")


if __name__ == "__main__":
    sys.exit(main())
