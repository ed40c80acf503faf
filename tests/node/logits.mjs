// logits.mjs — test-time cross-check helper: runs the prebuilt llama.cpp that
// ships with node-llama-cpp (CPU only, never downloaded or compiled) on given
// token ids and prints, as JSON, the raw next-token logits of every position
// and optionally a greedy continuation. Used by tests/model/test_llamacpp.py; it is
// not part of wafer.
//
//   node logits.mjs MODEL.gguf --ids "1 2 3" [--gen N] [--kv f32|f16|q8_0] [--threads N]
//   node logits.mjs --jobs JOBS.json
//
// JOBS.json is a list of {"model": path, "ids": [..], "gen": N, "kv": "f32",
// "one_by_one": false}; one getLlama() serves all of them. "one_by_one"
// evaluates the ids one call per token (decode kernels) instead of one batch.
// Output (stdout): a list with one object per job (one object in the
// single-model form):
//   {"model", "n_vocab", "logits": [[v0, v1, ...] per input position],
//    "gen": [greedy token ids, EOS included if reached], "error": null | "message"}
// logits[i] is the full logit row after tokens 0..i (dense, indexed by id).
// Exit codes: 0 ok (per-job errors are reported in "error"), 2 usage,
// 3 the llama.cpp binary could not be loaded (callers treat that as "skip").
import fs from "node:fs";
import process from "node:process";

function parseArgs(argv) {
    const a = { model: null, ids: null, gen: 0, kv: "f32", threads: 1, jobs: null };
    for (let i = 0; i < argv.length; i++) {
        const k = argv[i];
        const next = () => {
            if (i + 1 >= argv.length) throw new Error(`${k} needs a value`);
            return argv[++i];
        };
        if (k === "--ids") a.ids = next().trim().split(/[\s,]+/).filter((s) => s.length).map(Number);
        else if (k === "--gen") a.gen = Number(next());
        else if (k === "--kv") a.kv = next();
        else if (k === "--threads") a.threads = Number(next());
        else if (k === "--jobs") a.jobs = next();
        else if (k.startsWith("--")) throw new Error(`unknown option ${k}`);
        else a.model = k;
    }
    return a;
}

const KV_TYPES = { f32: "F32", f16: "F16", q8_0: "Q8_0" };

// Dense row from node-llama-cpp's Map<token, logit>; missing ids become null
// so that a truncated map cannot pass silently as a full distribution.
function denseRow(map, nVocab) {
    const row = new Array(nVocab).fill(null);
    for (const [tok, v] of map) {
        if (tok >= 0 && tok < nVocab) row[tok] = v;
    }
    return row;
}

async function runJob(llama, job, threads) {
    const out = { model: job.model, n_vocab: null, logits: [], gen: [], error: null };
    let model = null;
    let context = null;
    try {
        const ids = job.ids;
        if (!Array.isArray(ids) || ids.length === 0 || !ids.every(Number.isInteger))
            throw new Error("ids must be a non-empty list of integers");
        const gen = Math.max(0, job.gen ?? 0);
        const kv = KV_TYPES[job.kv ?? "f32"];
        if (!kv) throw new Error(`unknown kv type ${job.kv}`);
        model = await llama.loadModel({ modelPath: job.model, gpuLayers: 0, useMmap: true });
        let nVocab = null; // from the first logits map: it holds every token
        const ctxSize = Math.max(32, ids.length + gen + 8);
        context = await model.createContext({
            contextSize: ctxSize,
            batchSize: Math.max(ids.length, 8),
            sequences: 1,
            threads,
            flashAttention: false,
            experimentalKvCacheKeyType: kv,
            experimentalKvCacheValueType: kv,
            failedCreationRemedy: false,
        });
        const seq = context.getSequence();
        // Temperature 0 = greedy; no penalties or biases, so the logits that
        // come back are the model's raw output row.
        const want = { generateNext: { logits: true, token: true, options: { temperature: 0 } } };
        // Whole input in one batch (prefill kernels), or one token per call
        // (the decode kernels): the difference between the two is llama.cpp's
        // own rounding noise, the yardstick for quantized comparisons.
        let res;
        if (job.one_by_one) {
            res = [];
            for (const t of ids) res.push((await seq.controlledEvaluate([[t, want]]))[0]);
        } else {
            res = await seq.controlledEvaluate(ids.map((t) => [t, want]));
        }
        let last = null;
        for (let i = 0; i < ids.length; i++) {
            const r = res[i];
            if (!r || !r.next || !r.next.logits) throw new Error(`no logits for position ${i}`);
            if (nVocab == null) out.n_vocab = nVocab = r.next.logits.size;
            out.logits.push(denseRow(r.next.logits, nVocab));
            last = r.next.token;
        }
        // Greedy continuation, one token at a time, llama.cpp's own choice.
        for (let g = 0; g < gen; g++) {
            if (last == null) break;
            out.gen.push(last);
            if (model.isEogToken && model.isEogToken(last)) break;
            if (g + 1 === gen) break;
            const r = await seq.controlledEvaluate([[last, { generateNext: { token: true, options: { temperature: 0 } } }]]);
            last = r[0]?.next?.token ?? null;
        }
    } catch (e) {
        out.error = String(e && e.message ? e.message : e);
    } finally {
        if (context) await context.dispose();
        if (model) await model.dispose();
    }
    return out;
}

async function main() {
    let a;
    try {
        a = parseArgs(process.argv.slice(2));
    } catch (e) {
        process.stderr.write(`logits.mjs: ${e.message}\n`);
        return 2;
    }
    let jobs;
    if (a.jobs) jobs = JSON.parse(fs.readFileSync(a.jobs, "utf8"));
    else if (a.model && a.ids) jobs = [{ model: a.model, ids: a.ids, gen: a.gen, kv: a.kv }];
    else {
        process.stderr.write("usage: node logits.mjs MODEL.gguf --ids \"1 2 3\" [--gen N] [--kv f32] | --jobs JOBS.json\n");
        return 2;
    }

    let llama;
    try {
        const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
        // Prebuilt CPU binary only: never download or compile llama.cpp.
        llama = await getLlama({
            gpu: false,
            build: "never",
            usePrebuiltBinaries: true,
            skipDownload: true,
            progressLogs: false,
            logLevel: LlamaLogLevel.error,
        });
    } catch (e) {
        process.stderr.write(`logits.mjs: cannot load the prebuilt llama.cpp: ${e && e.message ? e.message : e}\n`);
        return 3;
    }
    const results = [];
    for (const job of jobs) results.push(await runJob(llama, job, a.threads));
    await llama.dispose();
    process.stdout.write(JSON.stringify(a.jobs ? results : results[0]) + "\n");
    return 0;
}

process.exitCode = await main();
