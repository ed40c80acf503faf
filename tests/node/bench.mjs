// bench.mjs — llama.cpp's prefill and decode speed on a GGUF file, for the
// side-by-side rows of BENCHMARKS.md (the prebuilt CPU llama.cpp inside
// node-llama-cpp, as in logits.mjs; test/benchmark time only, never linked
// into wafer).
//
//   node bench.mjs MODEL.gguf [--prompt N] [--gen N] [--threads N] [--reps N] [--ctx N]
//
// Prints one JSON object: prefill_tok_s and decode_tok_s (medians over reps;
// each rep starts from an empty sequence), the runs, and load_s. The prompt is
// seeded pseudo-random token ids below 1000; decoding is greedy, one token
// per evaluation, like `wafer bench`.
import process from "node:process";

function parseArgs(argv) {
    const a = { model: null, prompt: 512, gen: 32, threads: 2, reps: 3, ctx: 0 };
    for (let i = 0; i < argv.length; i++) {
        const k = argv[i];
        const num = () => {
            if (i + 1 >= argv.length) throw new Error(`${k} needs a value`);
            const v = Number(argv[++i]);
            if (!Number.isInteger(v) || v < 0) throw new Error(`${k}: not a count`);
            return v;
        };
        if (k === "--prompt") a.prompt = num();
        else if (k === "--gen") a.gen = num();
        else if (k === "--threads") a.threads = num();
        else if (k === "--reps") a.reps = Math.max(1, num());
        else if (k === "--ctx") a.ctx = num();
        else if (k.startsWith("--")) throw new Error(`unknown option ${k}`);
        else a.model = k;
    }
    if (!a.model) throw new Error("no model given");
    return a;
}

const median = (v) => [...v].sort((x, y) => x - y)[Math.floor(v.length / 2)];

async function main() {
    let a;
    try {
        a = parseArgs(process.argv.slice(2));
    } catch (e) {
        process.stderr.write(`bench.mjs: ${e.message}\nusage: node bench.mjs MODEL.gguf [--prompt N] [--gen N] [--threads N] [--reps N]\n`);
        return 2;
    }
    const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
    const llama = await getLlama({ gpu: false, build: "never", usePrebuiltBinaries: true, skipDownload: true,
                                   progressLogs: false, logLevel: LlamaLogLevel.error });
    const t0 = performance.now();
    const model = await llama.loadModel({ modelPath: a.model, gpuLayers: 0, useMmap: true });
    const load_s = (performance.now() - t0) / 1000;
    const context = await model.createContext({
        contextSize: a.ctx || a.prompt + a.gen + 16, batchSize: Math.max(8, Math.min(a.prompt, 512)),
        sequences: 1, threads: a.threads, flashAttention: false, failedCreationRemedy: false,
    });
    let s = 12345;
    const ids = [];
    for (let i = 0; i < a.prompt; i++) {
        s = (s * 1103515245 + 12345) % 2147483648;
        ids.push(s % 1000);
    }
    const pre = [], dec = [];
    const greedy = { generateNext: { token: true, options: { temperature: 0 } } };
    const seq = context.getSequence();
    for (let r = 0; r < a.reps; r++) {
        await seq.clearHistory();
        const t1 = performance.now();
        const res = await seq.controlledEvaluate(ids.map((t, i) => (i + 1 === ids.length ? [t, greedy] : t)));
        const t2 = performance.now();
        pre.push(a.prompt / ((t2 - t1) / 1000));
        let last = res[res.length - 1]?.next?.token ?? 0;
        const t3 = performance.now();
        for (let g = 0; g < a.gen; g++) {
            const out = await seq.controlledEvaluate([[last, greedy]]);
            last = out[0]?.next?.token ?? 0;
        }
        const t4 = performance.now();
        if (a.gen) dec.push(a.gen / ((t4 - t3) / 1000));
    }
    seq.dispose();
    await context.dispose();
    await model.dispose();
    await llama.dispose();
    process.stdout.write(JSON.stringify({
        model: a.model, engine: "llama.cpp (node-llama-cpp prebuilt CPU)", threads: a.threads, n_prompt: a.prompt,
        n_gen: a.gen, reps: a.reps, load_s, prefill_tok_s: median(pre), decode_tok_s: a.gen ? median(dec) : 0,
        prefill_tok_s_runs: pre, decode_tok_s_runs: dec,
    }) + "\n");
    return 0;
}

process.exitCode = await main();
