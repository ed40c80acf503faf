// build.mjs — bundle the app (src/) with esbuild into dist/: index.html,
// app-HASH.js and app-HASH.css (the hash in the name lets the server send
// them with a year-long immutable Cache-Control), each stored gzip-compressed
// (level 9, no timestamp: the same sources give the same bytes). The C
// build embeds dist/*.gz into `wafer serve` (src/serve/CMakeLists.txt).
//   npm ci && node build.mjs        (or `make web` at the top)
import * as esbuild from 'esbuild';
import { createHash } from 'node:crypto';
import { gzipSync, constants } from 'node:zlib';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, 'dist');

const r = await esbuild.build({
  entryPoints: [join(here, 'src/main.jsx')],
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['chrome100', 'firefox100', 'safari15'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'none',
  write: false,
  metafile: true,
  logLevel: 'warning',
});
const js = r.outputFiles[0].text;
const css = await esbuild.build({ entryPoints: [join(here, 'src/style.css')], bundle: true, minify: true, write: false, logLevel: 'warning' });
const cssText = css.outputFiles[0].text;

const hash = (s) => createHash('sha256').update(s).digest('hex').slice(0, 10);
const jsName = `app-${hash(js)}.js`, cssName = `app-${hash(cssText)}.css`;
const html = readFileSync(join(here, 'src/index.html'), 'utf8').replace('JS_FILE', jsName).replace('CSS_FILE', cssName);

rmSync(out, { recursive: true, force: true });
mkdirSync(out);
const gz = (s) => gzipSync(Buffer.from(s), { level: constants.Z_BEST_COMPRESSION });
for (const [name, text] of [['index.html', html], [jsName, js], [cssName, cssText]]) {
  const z = gz(text);
  z[9] = 3; // OS byte: "Unix" on every build machine
  writeFileSync(join(out, name + '.gz'), z);
  console.log(`${name}: ${text.length} bytes, ${z.length} gzipped`);
}

// What the bundle was built from, so a test can tell when dist/ is stale
// (tests/serve/test_app_static.py computes the same): sha256 over
// "PATH\0CONTENT\0" of build.mjs, package-lock.json and src/*, sorted by path.
const files = ['build.mjs', 'package-lock.json', ...readdirSync(join(here, 'src')).map((f) => 'src/' + f)].sort();
const h = createHash('sha256');
for (const f of files) h.update(f + '\0').update(readFileSync(join(here, f))).update('\0');
writeFileSync(join(out, 'sources.sha256'), h.digest('hex') + '\n');
