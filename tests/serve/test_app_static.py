#!/usr/bin/python3
"""test_app_static.py — how `wafer serve` serves its web app and the server
additions the app uses, over raw HTTP (no browser; test_app.py drives the
app itself in Chromium):

- GET / and the assets: gzip bodies identical to the committed web/dist
  files, Content-Type, ETag + If-None-Match -> 304, Cache-Control (no-cache
  for the page, immutable for the content-hashed assets), the
  Content-Security-Policy, HEAD, Accept-Encoding without gzip -> 406, no API
  key needed for the app (but for the API), --no-ui -> 404, the start-up
  line naming the URL;
- web/dist is not stale: web/dist/sources.sha256 matches web/src (else:
  run `make web`);
- /props: bos_token, chat_template_source;
- predicted outputs on /v1/completions (the app's raw edit format): at
  temperature 0 the answer equals the one without prediction, with
  accepted prediction tokens; `speculative` per request: lookup drafts
  (timings.draft_n) and the same greedy answer; bad values -> 400."""
import gzip
import hashlib
import http.client
import json
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ref"))
import test_server_common as C  # noqa: E402
import testlib as T  # noqa: E402
from testlib import check  # noqa: E402

T.print_ok = True

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("WAFER_SRC", os.path.join(HERE, "..", ".."))
WEB = os.path.join(SRC, "web")
EMBEDDED = os.path.join(SRC, "models", "wafer-embedded.gguf")


def get(s, path, headers=None, method="GET"):
    c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
    c.putrequest(method, path, skip_accept_encoding=True)  # http.client would send "identity" itself
    for k, v in (headers or {}).items():
        c.putheader(k, v)
    c.endheaders()
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, body


def sources_hash():
    files = ["build.mjs", "package-lock.json"] + ["src/" + f for f in os.listdir(os.path.join(WEB, "src"))]
    h = hashlib.sha256()
    for f in sorted(files):
        h.update(f.encode() + b"\0" + open(os.path.join(WEB, f), "rb").read() + b"\0")
    return h.hexdigest()


def static_checks(s):
    for _ in range(200):  # the line after "listening on" may still be on its way
        if any("the app" in l for l in s.log):
            break
        time.sleep(0.01)
    check(any(re.search(r"the app .*open http://127\.0\.0\.1:%d/ in a browser" % s.port, l) for l in s.log),
          "the start-up line names the app's URL")
    dist = {f[:-3]: open(os.path.join(WEB, "dist", f), "rb").read() for f in os.listdir(os.path.join(WEB, "dist"))
            if f.endswith(".gz")}
    st, h, body = get(s, "/", {"Accept-Encoding": "gzip, deflate"})
    check(st == 200 and h.get("content-encoding") == "gzip" and h.get("content-type") == "text/html; charset=utf-8",
          "GET /: 200, gzip, text/html (%d %s)" % (st, h.get("content-type")))
    check(body == dist["index.html"], "GET / is the committed web/dist/index.html.gz, byte for byte")
    html = gzip.decompress(body).decode()
    csp = h.get("content-security-policy", "")
    check("script-src 'self';" in csp and "default-src 'none'" in csp and "connect-src 'self'" in csp
          and "frame-ancestors 'none'" in csp and "unsafe-eval" not in csp and "script-src 'self' 'unsafe" not in csp,
          "Content-Security-Policy: own scripts only, no eval, no frames (%s)" % csp)
    check(h.get("cache-control") == "no-cache" and re.fullmatch(r'"[0-9a-f]{16}"', h.get("etag", "")),
          "the page: Cache-Control no-cache, an ETag")
    check(h.get("x-content-type-options") == "nosniff" and h.get("vary") == "Accept-Encoding", "nosniff, Vary")
    etag = h["etag"]
    st, h2, b2 = get(s, "/", {"If-None-Match": 'W/"0000", ' + etag})
    check(st == 304 and b2 == b"" and h2.get("etag") == etag, "If-None-Match with the ETag -> 304, no body")
    st, h2, b2 = get(s, "/", {"If-None-Match": '"0123456789abcdef"'})
    check(st == 200 and b2 == body, "another ETag -> 200")
    st, h2, b2 = get(s, "/", method="HEAD")
    check(st == 200 and b2 == b"" and h2.get("content-length") == str(len(body)), "HEAD /: headers, no body")
    st, _, b2 = get(s, "/")
    check(st == 200 and b2 == body, "no Accept-Encoding: any coding is acceptable, gzip sent")
    for ae in ("identity", "gzip;q=0, identity", "br"):
        st, _, b2 = get(s, "/", {"Accept-Encoding": ae})
        check(st == 406 and b"gzip" in b2, "Accept-Encoding %r -> 406 with a message" % ae)
    for ae in ("*", "br;q=1, gzip;q=0.5", "GZIP"):
        st, _, _ = get(s, "/", {"Accept-Encoding": ae})
        check(st == 200, "Accept-Encoding %r -> 200" % ae)
    # hostile header values: answered, never a hang or a crash
    for ae in (";;;,,,q=", "gzip;q=", "gzip;q=abc", ",", "x" * 60000, "gzip;" * 5000):
        st, _, _ = get(s, "/", {"Accept-Encoding": ae})
        check(st in (200, 406, 431), "Accept-Encoding %r...: %d" % (ae[:16], st))
    for inm in ("W/", "*", ",,,", 'W/"', etag[:-1], (etag + ",") * 3000):
        st, _, _ = get(s, "/", {"If-None-Match": inm})
        check(st in (200, 304, 431), "If-None-Match %r...: %d" % (inm[:16], st))
    assets = re.findall(r'(?:src|href)="/(app-[0-9a-f]{10}\.(?:js|css))"', html)
    check(len(assets) == 2, "the page names the content-hashed script and style: %s" % assets)
    for a in assets:
        st, h, b = get(s, "/" + a, {"Accept-Encoding": "gzip"})
        typ = "text/javascript; charset=utf-8" if a.endswith(".js") else "text/css; charset=utf-8"
        check(st == 200 and b == dist.get(a) and h.get("content-type") == typ and
              h.get("cache-control") == "public, max-age=31536000, immutable", "/%s: the committed file, immutable" % a)
        check(len(gzip.decompress(b)) > 1000, "/%s decompresses" % a)
    st, _, b = get(s, "/app-0000000000.js")
    check(st == 404 and json.loads(b)["error"]["code"] == "unknown_url", "an unknown asset: 404 (OpenAI error shape)")
    st, _, _ = get(s, "/", method="POST")
    check(st in (404, 405), "POST / is not the app (%d)" % st)


def api_checks(s):
    st, p, _, _ = s.request("GET", "/props")
    check(st == 200 and p["bos_token"] == "<|endoftext|>" and p["chat_template_source"] == "model",
          "/props: bos_token, chat_template_source model (the embedded model's own template)")
    # the raw edit format the app builds for a base model without a template whose vocabulary
    # has <|file_sep|> (docs/edit.md), as token ids: the embedded model has those tokens
    tok = lambda text, special: s.request("POST", "/tokenize", {"content": text, "parse_special": special})[1]["tokens"]
    bos_sep = tok("<|endoftext|><|file_sep|>", True)
    check(len(bos_sep) == 2, "<|endoftext|> and <|file_sep|> are single tokens")
    text = open(os.path.join(SRC, "examples", "quickstart.py")).read()[:600]
    ids = [bos_sep[0]] + tok("rename main to run\n", False) + [bos_sep[1]] + tok(text, False) + [bos_sep[1]]
    base = {"prompt": ids, "max_tokens": 150, "temperature": 0}
    st, plain, _, _ = s.request("POST", "/v1/completions", base)
    st2, pred, _, _ = s.request("POST", "/v1/completions", dict(base, prediction={"type": "content", "content": text}))
    check(st == 200 and st2 == 200, "completions with and without prediction: 200")
    d = pred["usage"]["completion_tokens_details"]
    check(pred["choices"][0]["text"] == plain["choices"][0]["text"],
          "prediction on /v1/completions: the same greedy answer (%d chars)" % len(plain["choices"][0]["text"]))
    check(d["accepted_prediction_tokens"] > 0 and pred["timings"]["draft_n"] >= d["accepted_prediction_tokens"],
          "accepted prediction tokens %d, drafts %d (timings)" % (d["accepted_prediction_tokens"], pred["timings"]["draft_n"]))
    chat = {"messages": [{"role": "user", "content": text}], "max_tokens": 80, "temperature": 0}
    st, a, _, _ = s.request("POST", "/v1/chat/completions", chat)
    st2, b, _, _ = s.request("POST", "/v1/chat/completions", dict(chat, speculative="lookup"))
    check(st == 200 and st2 == 200 and a["choices"][0]["message"]["content"] == b["choices"][0]["message"]["content"],
          "speculative lookup: the same greedy answer")
    check(a["timings"]["draft_n"] == 0 and b["timings"]["draft_n"] > 0,
          "speculative lookup drafts (%d) where the server default does not (%d)" % (b["timings"]["draft_n"], a["timings"]["draft_n"]))
    for v, code in (("fast", "invalid_value"), (3, "invalid_type"), ("draft", "invalid_value")):
        st, e, _, _ = s.request("POST", "/v1/chat/completions", dict(chat, speculative=v))
        check(st == 400 and e["error"]["param"] == "speculative" and e["error"]["code"] == code,
              "speculative %r -> 400 %s" % (v, code))


def main():
    T.need_wafer()
    check(open(os.path.join(WEB, "dist", "sources.sha256")).read().strip() == sources_hash(),
          "web/dist was built from the web/ sources as they are (else run `make web`)")
    with C.Server(EMBEDDED, "--parallel", "1") as s:
        static_checks(s)
        api_checks(s)
    with C.Server(EMBEDDED, "--no-ui") as s:
        st, _, _ = get(s, "/")
        check(st == 404 and not any("the app" in l for l in s.log), "--no-ui: / is 404, no app line")
    key = "k-0123456789"
    with C.Server(EMBEDDED, "--api-key", key) as s:
        st, _, _ = get(s, "/")
        st2, _, _ = get(s, "/props")
        st3, _, _ = get(s, "/props", {"Authorization": "Bearer " + key})
        check(st == 200 and st2 == 401 and st3 == 200, "with --api-key: the app needs no key, the API does")
    tmp = tempfile.mkdtemp(prefix="wf_app_static_")
    m = os.path.join(tmp, "m.gguf")
    C.make_server_model(m)
    with C.Server(m) as s, C.Server(m, "--chat-template", "chatml") as s2:
        check(s.request("GET", "/props")[1]["chat_template_source"] == "model" and
              s2.request("GET", "/props")[1]["chat_template_source"] == "option",
              "chat_template_source: model, option")
    check(not C.SANITIZER_REPORTS, "no sanitizer reports")
    return T.summary("test_app_static")


if __name__ == "__main__":
    sys.exit(main())
