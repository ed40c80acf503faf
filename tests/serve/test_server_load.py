#!/usr/bin/python3
"""test_server_load.py — a bounded load test of `wafer serve` on loopback.

CLIENTS streaming clients (default 32; ctest: 64, a third hanging up, plus 4
steady non-streaming clients) send chat requests back to back for
DURATION seconds (default 10 in ctest; `--duration 180` for a longer run)
against the slower synthetic model with --parallel 4; a quarter of them
hang up at a random point of each answer. Checks: no 5xx and no 429 (the
queue holds everyone); every request either completed (`[DONE]` seen) or was
abandoned by the client; the server's /metrics agree (200 + 499 counts ==
requests sent, nothing running at the end); resident memory grows by less
than 16 MiB over the second half of the run (the KV caches and the 16 MiB
prefix cache fill in the first). Prints throughput and
p50/p99 time to first token.

    test_server_load.py [--duration S] [--clients N] [--parallel N] [--model M.gguf] [--threads T] [--client-timeout S]
                        [--llama-server PATH]

--llama-server PATH runs the same clients against llama.cpp's server (a
`llama-server` binary built outside this tree; scripts/soak05b.sh) on the
same model, for the figures side by side: the checks that need wafer's own
counters and request log (statuses counted, one log line per request,
hang-ups logged cancelled) do not apply there and are said so; the rest
(no 5xx, 429 or connection error, every request completed or abandoned by
its client, nothing processing or deferred at the end by llama.cpp's
/metrics, RSS over the second half) are the same. Skipped (exit 77) when
PATH is not there.
"""
import argparse
import http.client
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import test_server_common as C
import testlib as T
from testlib import check

T.print_ok = True


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def one_request(port, rng, hang, stats, lock, stream=True, timeout=120, max_tokens=128):
    body = {"messages": [{"role": "user", "content": "task %d: %s" % (rng.randrange(1000), "x" * rng.randrange(200))}],
            "max_tokens": rng.randrange(min(16, max_tokens), max_tokens + 1), "temperature": 0.8, "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    cut = rng.randrange(1, 40) if hang else None
    t0 = time.time()
    ttft, n_ev, done, status, toks = None, 0, False, None, 0
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("POST", "/v1/chat/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
        r = c.getresponse()
        status = r.status
        if status == 200 and not stream:
            j = json.loads(r.read())
            done = j["choices"][0]["finish_reason"] in ("stop", "length")
            toks = j["usage"]["completion_tokens"]
        elif status == 200:
            while True:
                line = r.readline()
                if not line:
                    break
                if not line.startswith(b"data: "):
                    continue
                d = line[6:].strip()
                if d == b"[DONE]":
                    done = True
                    break
                o = json.loads(d)
                if o.get("usage"):
                    toks = o["usage"]["completion_tokens"]
                if o["choices"] and o["choices"][0]["delta"].get("content"):
                    if ttft is None:
                        ttft = time.time() - t0
                    n_ev += 1
                    if cut is not None and n_ev >= cut:
                        c.sock.shutdown(socket.SHUT_RDWR)
                        break
        else:
            r.read()
    except (OSError, http.client.HTTPException) as e:
        status = status or ("error: %s" % type(e).__name__)
    finally:
        c.close()
    with lock:
        stats["sent"] += 1
        stats["status"][status] = stats["status"].get(status, 0) + 1
        if ttft is not None:
            stats["ttft"].append(ttft)
        if status == 200:
            if done:
                stats["completed"] += 1
                stats["tokens"] += toks
            elif cut is not None:
                stats["hung_up"] += 1
            else:
                stats["broken"] += 1


class LlamaServer:
    """llama.cpp's `llama-server` on a free port with the model, PARALLEL
    slots of CTX tokens each, THREADS threads and /metrics; stop() ends it."""

    def __init__(self, binary, model, parallel, threads, ctx, timeout=300):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.log = []
        cmd = [binary, "-m", model, "--host", "127.0.0.1", "--port", str(self.port), "-np", str(parallel),
               "-c", str(parallel * ctx), "-t", str(threads), "--metrics", "--no-webui"]
        self.p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._t = threading.Thread(target=self._drain, daemon=True)
        self._t.start()
        end = time.time() + timeout
        while time.time() < end and self.p.poll() is None:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                c.request("GET", "/health")
                if c.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError("llama-server did not start: " + "\n".join(self.log[-20:]))

    def _drain(self):
        for line in self.p.stderr:
            self.log.append(line.decode("utf-8", "replace").rstrip("\n"))

    def metrics(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        c.request("GET", "/metrics")
        out = c.getresponse().read().decode()
        c.close()
        return {m.group(1): float(m.group(2)) for m in re.finditer(r"^(llamacpp:\w+) (\S+)$", out, re.M)}

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--parallel", type=int, default=4)
    ap.add_argument("--hang-fraction", type=float, default=0.25, help="share of streaming clients that hang up mid-answer")
    ap.add_argument("--batch-clients", type=int, default=0, help="steady non-streaming clients besides")
    ap.add_argument("--model", help="serve this GGUF instead of the synthetic model (e.g. models/wafer-embedded.gguf)")
    ap.add_argument("--threads", type=int, default=2, help="the server's -t")
    ap.add_argument("--client-timeout", type=float, default=120,
                    help="seconds a client waits for the next bytes (a queued non-streaming request gets none until its answer is whole)")
    ap.add_argument("--max-tokens", type=int, default=128, help="each request asks for 16..this many tokens (at random)")
    ap.add_argument("--log-out", help="write the server's request log (JSON lines) here")
    ap.add_argument("--llama-server", help="run the clients against this llama.cpp llama-server binary instead of wafer")
    ap.add_argument("--llama-ctx", type=int, default=4096, help="llama-server: context tokens per slot (-c is PARALLEL times this)")
    a = ap.parse_args()
    ext = a.llama_server
    if ext and not os.path.exists(ext):
        T.skip(f"no llama-server at {ext} (built outside this tree: docs/reliability.md)")
    if not ext:
        T.need_wafer()
    tmp = tempfile.mkdtemp(prefix="wf_server_load_")
    model = a.model or os.path.join(tmp, "big.gguf")
    if not a.model:
        C.make_server_model(model, big=True)
    # a small prefix cache so that it fills during the run (it is bounded by
    # design; what must not grow is everything else)
    n_all = a.clients + a.batch_clients
    if ext:
        server = LlamaServer(ext, model, a.parallel, a.threads, a.llama_ctx)
    else:
        server = C.Server(model, "--parallel", a.parallel, "--queue", 4 * n_all, "--cache-mb", 16, "--log-format", "json", "-t", a.threads)
    with server as srv:
        lock = threading.Lock()
        # warm-up: every slot used once
        warm = {"sent": 0, "status": {}, "ttft": [], "completed": 0, "hung_up": 0, "broken": 0, "tokens": 0}
        ths = [threading.Thread(target=one_request, args=(srv.port, random.Random(i), False, warm, lock)) for i in range(a.parallel * 2)]
        [t.start() for t in ths]
        [t.join() for t in ths]
        rss0 = rss_kib(srv.p.pid)
        key = 'wafer_http_requests_total{endpoint="/v1/chat/completions",status="%d"}'
        for _ in range(0 if ext else 200):  # the server counts a request when its connection is done with it
            m0 = srv.metrics()
            if m0.get(key % 200, 0) >= warm["sent"]:
                break
            time.sleep(0.01)
        # the log lines of the warm-up reach srv.log through a reader thread,
        # possibly after /metrics counted them: wait for them before log0
        def n_chat_lines():
            return sum(1 for l in list(srv.log) if l.startswith("{") and '"/v1/chat/completions"' in l)
        m0 = srv.metrics()
        for _ in range(0 if ext else 500):
            if n_chat_lines() >= warm["sent"]:
                break
            time.sleep(0.01)
        stats = {"sent": 0, "status": {}, "ttft": [], "completed": 0, "hung_up": 0, "broken": 0, "tokens": 0}
        t_end = time.time() + a.duration

        n_hang = int(round(a.clients * a.hang_fraction))

        def client(i):
            rng = random.Random(1000 + i)
            while time.time() < t_end:
                if i >= a.clients:
                    one_request(srv.port, rng, hang=False, stats=stats, lock=lock, stream=False, timeout=a.client_timeout,
                                max_tokens=a.max_tokens)
                else:
                    one_request(srv.port, rng, hang=(i < n_hang), stats=stats, lock=lock, timeout=a.client_timeout, max_tokens=a.max_tokens)
        log0 = len(srv.log)
        log_warm = n_chat_lines()
        t0 = time.time()
        ths = [threading.Thread(target=client, args=(i,)) for i in range(n_all)]
        [t.start() for t in ths]
        rss_samples = []
        while time.time() < t_end:
            rss_samples.append((time.time() - t0, rss_kib(srv.p.pid)))
            time.sleep(min(1.0, max(0.05, t_end - time.time())))
        rss_mid = rss_samples[len(rss_samples) // 2][1] if rss_samples else rss_kib(srv.p.pid)
        [t.join(a.duration + a.client_timeout + 60) for t in ths]
        wall = time.time() - t0
        for _ in range(0 if ext else 300):
            m1 = srv.metrics()
            if m1.get(key % 200, 0) + m1.get(key % 499, 0) - m0.get(key % 200, 0) - m0.get(key % 499, 0) >= stats["sent"]:
                break
            time.sleep(0.01)
        for _ in range(0 if ext else 300):
            if n_chat_lines() - log_warm >= stats["sent"]:
                break
            time.sleep(0.01)
        time.sleep(0.2)
        m1 = srv.metrics()
        # llama-server: a hung-up stream is stopped at its next token; wait
        # (bounded) for its slots to empty before reading the end state
        for _ in range(300 if ext else 0):
            if m1.get("llamacpp:requests_processing", 0) == 0 and m1.get("llamacpp:requests_deferred", 0) == 0:
                break
            time.sleep(0.1)
            m1 = srv.metrics()
        rss1 = rss_kib(srv.p.pid)
        if a.log_out:
            with open(a.log_out, "w") as f:
                f.writelines(l.rstrip("\n") + "\n" for l in list(srv.log))
        logs = [json.loads(l) for l in srv.log[log0:] if l.startswith("{")]
        logs = [o for o in logs if o.get("path") == "/v1/chat/completions"]
    st = stats["status"]
    print(f"requests {stats['sent']} in {wall:.1f} s ({a.clients} streaming clients, {n_hang} of them hanging up, "
          f"{a.batch_clients} non-streaming): statuses {st}, completed {stats['completed']}, hung up by the client {stats['hung_up']}")
    bad = {k: v for k, v in st.items() if k != 200}
    check(not bad, f"no 5xx, 429 or connection errors ({bad})")
    check(stats["broken"] == 0, f"every accepted request completed or was abandoned by its client ({stats['broken']} broken)")
    if ext:
        return llama_tail(a, stats, m0, m1, rss0, rss_mid, rss1, rss_samples, wall)
    served = (m1.get(key % 200, 0) - m0.get(key % 200, 0)) + (m1.get(key % 499, 0) - m0.get(key % 499, 0))
    check(served == stats["sent"], f"server counted {served:.0f} requests (200 + 499) == {stats['sent']} sent")
    check(m1["wafer_slots_busy"] == 0 and m1["wafer_queue_depth"] == 0, "nothing running or queued at the end")
    by_status = {}
    for o in logs:
        by_status[o["status"]] = by_status.get(o["status"], 0) + 1
    cancelled = sum(1 for o in logs if o.get("stop") == "cancelled")
    check(len(logs) == stats["sent"] and by_status.get(200, 0) == m1.get(key % 200, 0) - m0.get(key % 200, 0) and
          by_status.get(499, 0) == m1.get(key % 499, 0) - m0.get(key % 499, 0),
          f"the log has one line per request ({len(logs)}), statuses {by_status} as /metrics counted; {cancelled} cancelled")
    check(cancelled >= stats["hung_up"] * 0.9, f"hang-ups are logged as cancelled ({cancelled} for {stats['hung_up']} hang-ups)")
    # KV caches commit as they fill and the prefix cache fills to its bound in
    # the first half; the second half must not grow by more than noise
    check(rss1 - rss_mid < 16 * 1024, f"resident memory: after warm-up {rss0 / 1024:.1f} MiB, half-way {rss_mid / 1024:.1f}, "
                                      f"end {rss1 / 1024:.1f} (second half < +16 MiB)")
    if len(rss_samples) >= 10:
        q = [rss_samples[int(len(rss_samples) * f)] for f in (0, 0.25, 0.5, 0.75)] + [rss_samples[-1]]
        print("RSS over the run: " + ", ".join(f"{t:.0f} s {r / 1024:.1f} MiB" for t, r in q))
    gen = m1["wafer_generated_tokens_total"] - m0["wafer_generated_tokens_total"]
    tt = sorted(stats["ttft"])
    if tt:
        p50, p99 = tt[len(tt) // 2], tt[min(len(tt) - 1, int(len(tt) * 0.99))]
        print(f"throughput {gen / wall:.0f} generated tok/s ({gen:.0f} tokens), {stats['sent'] / wall:.1f} req/s; "
              f"time to first token p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms "
              f"({a.clients} clients, {a.parallel} slots, model {os.path.basename(a.model) if a.model else 'make_server_model(big)'})")
    check(not C.SANITIZER_REPORTS, f"no sanitizer reports from the server ({len(C.SANITIZER_REPORTS)})")
    return T.summary("test_server_load")


def rss_lines(rss0, rss_mid, rss1, rss_samples):
    check(rss1 - rss_mid < 16 * 1024, f"resident memory: after warm-up {rss0 / 1024:.1f} MiB, half-way {rss_mid / 1024:.1f}, "
                                      f"end {rss1 / 1024:.1f} (second half < +16 MiB)")
    if len(rss_samples) >= 10:
        q = [rss_samples[int(len(rss_samples) * f)] for f in (0, 0.25, 0.5, 0.75)] + [rss_samples[-1]]
        print("RSS over the run: " + ", ".join(f"{t:.0f} s {r / 1024:.1f} MiB" for t, r in q))


def llama_tail(a, stats, m0, m1, rss0, rss_mid, rss1, rss_samples, wall):
    """The end of a run against llama-server: what its /metrics can say."""
    check(m1.get("llamacpp:requests_processing", -1) == 0 and m1.get("llamacpp:requests_deferred", -1) == 0,
          f"nothing processing or deferred at the end (llamacpp:requests_processing "
          f"{m1.get('llamacpp:requests_processing')}, requests_deferred {m1.get('llamacpp:requests_deferred')})")
    print("not applicable to llama-server (no per-status request counters or request log): statuses counted = sent, "
          "one log line per request, hang-ups logged cancelled")
    rss_lines(rss0, rss_mid, rss1, rss_samples)
    gen = m1.get("llamacpp:tokens_predicted_total", 0) - m0.get("llamacpp:tokens_predicted_total", 0)
    tt = sorted(stats["ttft"])
    if tt:
        p50, p99 = tt[len(tt) // 2], tt[min(len(tt) - 1, int(len(tt) * 0.99))]
        print(f"throughput {gen / wall:.0f} generated tok/s ({gen:.0f} tokens, llamacpp:tokens_predicted_total), "
              f"{stats['sent'] / wall:.1f} req/s; completed requests' tokens {stats['tokens']}; "
              f"time to first token p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms "
              f"({a.clients} clients, {a.parallel} slots, llama-server, model {os.path.basename(a.model) if a.model else 'make_server_model(big)'})")
    return T.summary("test_server_load (llama-server)")


if __name__ == "__main__":
    sys.exit(main())
