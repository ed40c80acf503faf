// dev.mjs — for working on the app: serves dist/ (as built by build.mjs)
// at http://127.0.0.1:PORT and forwards every other path to a running
// `wafer serve`, so the app can be tried before it is embedded.
//   node dev.mjs [WAFER_URL=http://127.0.0.1:8080] [PORT=8081]
import http from 'node:http';
import { readdirSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = join(dirname(fileURLToPath(import.meta.url)), 'dist');
const upstream = new URL(process.argv[2] || 'http://127.0.0.1:8080');
const port = Number(process.argv[3] || 8081);
const types = { html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8' };

http.createServer((req, res) => {
  const name = req.url === '/' ? 'index.html' : req.url.slice(1);
  if (req.method === 'GET' && readdirSync(dist).includes(name + '.gz')) {
    res.writeHead(200, { 'Content-Type': types[name.split('.').pop()] || 'application/octet-stream' });
    res.end(gunzipSync(readFileSync(join(dist, name + '.gz'))));
    return;
  }
  const p = http.request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers }, (r) => {
    res.writeHead(r.statusCode, r.headers);
    r.pipe(res);
  });
  p.on('error', () => { res.writeHead(502); res.end(); });
  req.pipe(p);
  res.on('close', () => p.destroy());
}).listen(port, '127.0.0.1', () => console.log(`app on http://127.0.0.1:${port}/ -> ${upstream.href}`));
