// grammar_bench.mjs — benchmark helper, never part of wafer: llama.cpp's own
// grammar sampler (the prebuilt CPU build bundled with node-llama-cpp) on the
// same GGUF and JSON Schema as bench/bench_grammar.c, free against
// constrained decoding, interleaved run by run, greedy or at a temperature
// (plain softmax sampling as in bench_grammar: no top-k, top-p, min-p;
// seeded per run). Both runs go through the same node-llama-cpp loop, so
// its per-token JavaScript cost is in both and the ratio compares like
// with like; on a tiny model that cost dominates both rates (see
// BENCHMARKS.md), on the 0.5B shape the model's own step does.
//
//   node grammar_bench.mjs MODEL.gguf SCHEMA.json --prompt P --free-prompt P [--tokens N] [--reps R] [--threads T] [--temp X]
//
// Prints one JSON line: {"free_tok_s", "constrained_tok_s", "ratio",
// "free_tokens", "constrained_tokens"} (medians of the per-run decode rates:
// tokens after the first / time after the first, over runs of 8 tokens or
// more). Exit 3 when the prebuilt llama.cpp cannot be loaded (callers skip).
import fs from "node:fs";
import process from "node:process";

function arg(name, def) {
    const i = process.argv.indexOf(name);
    return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

const median = (v) => {
    const s = [...v].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main() {
    const [modelPath, schemaPath] = process.argv.slice(2);
    if (!modelPath || !schemaPath) {
        process.stderr.write("usage: node grammar_bench.mjs MODEL.gguf SCHEMA.json --prompt P --free-prompt P [--tokens N] [--reps R] [--threads T]\n");
        return 2;
    }
    const nTok = Number(arg("--tokens", "128")), reps = Number(arg("--reps", "5")), threads = Number(arg("--threads", "2"));
    const temp = Number(arg("--temp", "0"));
    const prompt = arg("--prompt", "record = "), freePrompt = arg("--free-prompt", "def main(argv):\n");
    let llama, lib;
    try {
        lib = await import("node-llama-cpp");
        llama = await lib.getLlama({ gpu: false, build: "never", usePrebuiltBinaries: true, skipDownload: true,
                                     progressLogs: false, logLevel: lib.LlamaLogLevel.error });
    } catch (e) {
        process.stderr.write(`grammar_bench.mjs: cannot load the prebuilt llama.cpp: ${e && e.message ? e.message : e}\n`);
        return 3;
    }
    const model = await llama.loadModel({ modelPath, gpuLayers: 0, useMmap: true });
    // dispatch each step at once (the default waits for the next event-loop cycle, to batch sequences: one here)
    const context = await model.createContext({ contextSize: 512, sequences: 1, threads, failedCreationRemedy: false,
                                                batching: { dispatchSchedule: (dispatch) => dispatch() } });
    const schema = JSON.parse(fs.readFileSync(schemaPath, "utf8"));
    const grammar = await llama.createGrammarForJsonSchema(schema);
    const seq = context.getSequence();

    async function run(text, withGrammar, seed) {
        await seq.clearHistory();
        const toks = model.tokenize(text, true);
        const opts = temp > 0 ? { temperature: temp, topK: 0, topP: 1, minP: 0, seed } : { temperature: 0 };
        if (withGrammar) opts.grammarEvaluationState = new lib.LlamaGrammarEvaluationState({ model, grammar });
        let n = 0, tFirst = 0;
        for await (const t of seq.evaluate(toks, opts)) {
            n++;
            if (n === 1) tFirst = performance.now();
            if (model.isEogToken(t) || n >= nTok) break;
        }
        const dt = (performance.now() - tFirst) / 1000;
        return { n, rate: n > 1 && dt > 0 ? (n - 1) / dt : 0 };
    }
    const free = [], cons = [];
    let nf = 0, nc = 0;
    for (let r = 0; r < reps; r++) {
        const a = await run(freePrompt, false, 1000 + r);
        const b = await run(prompt, true, 1000 + r);
        if (a.n >= 8) free.push(a.rate);
        if (b.n >= 8) cons.push(b.rate);
        (nf = a.n), (nc = b.n);
    }
    const mf = free.length ? median(free) : 0, mc = cons.length ? median(cons) : 0;
    console.log(JSON.stringify({ free_tok_s: mf, constrained_tok_s: mc, ratio: mf > 0 ? mc / mf : 0, free_tokens: nf, constrained_tokens: nc }));
    await context.dispose();
    await model.dispose();
    return 0;
}

main().then((c) => process.exit(c), (e) => {
    process.stderr.write(`grammar_bench.mjs: ${e && e.stack ? e.stack : e}\n`);
    process.exit(1);
});
