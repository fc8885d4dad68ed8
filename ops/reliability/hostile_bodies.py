#!/usr/bin/env python3
"""Hostile submission bodies (issue 9 item 3): what one bad body costs the gateway and its other clients.

For each body shape, starts a fresh `sightline-gateway serve --dev` on free loopback ports, makes
one good submission (the idle baseline), then sends FOUR such bodies at once from four different
submitting participants while a good client (partner-304-cme) reads GET /v1/inbox every 100 ms.
Records the four status codes and wall times, the good client's latencies during the attack, and
the gateway's peak RSS (VmHWM; the gateway is restarted per shape so each peak is that shape's own).

  python3 ops/reliability/hostile_bodies.py --bin .build/debug
  python3 ops/reliability/hostile_bodies.py --bin /tmp/before-bin --policy /work/wt-before/Policies --runs 2

Prints a Markdown table (medians over --runs) and writes every measurement to --json if given.
"""
import argparse, http.client, json, os, shutil, socket, ssl, statistics, subprocess, sys, tempfile, threading, time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MiB = 1024 * 1024
BODY = 32 * MiB  # the gateway's shipped limits.max-body-bytes: these bodies pass the length check
HOSTILE_IDENTITIES = ["school-100001", "school-100002", "school-100003", "nhs-Y12345"]
GOOD_IDENTITY = "partner-304-cme"
GOOD_RECORD = (b'{"kind":"school.exclusion","localRef":"HB-000001","observedAt":"2026-11-19T17:30:00Z",'
               b'"identifiers":{"upn":"H304200120344","givenName":"Ibrahim","familyName":"MacDonald",'
               b'"dateOfBirth":"2016-05-06","postcode":"HA0 2ST"},'
               b'"fields":{"category":"suspension","startDate":"2025-11-20","days":2}}\n')


def x_lines():
    return b"x\n" * (BODY // 2)


def zero_array():
    n = (BODY - 2) // 2  # "[" + "0," * (n - 1) + "0]"
    return b"[" + b"0," * (n - 1) + b"0]"


def deep_nesting():
    return b"[" * 100_000 + b"]" * 100_000 + b"\n"


def wide_record():
    fields = b",".join(b'"f%05d":0' % i for i in range(50_000))
    return b'{"kind":"school.exclusion","localRef":"WIDE-1",' + fields + b"}\n"


def blank_lines():
    return b"\n" * BODY


def long_line():
    pad = b'{"kind":"school.exclusion","localRef":"LONG-1","pad":"'
    return pad + b"a" * (10_000_000 - len(pad) - 3) + b'"}\n'


SHAPES = [
    ("a", "32 MiB of `x\\n` lines", x_lines),
    ("b", "32 MiB JSON array `[0,0,...]`", zero_array),
    ("c", "one line nested 100,000 deep", deep_nesting),
    ("d", "one record with 50,000 fields", wide_record),
    ("e", "32 MiB of blank lines", blank_lines),
    ("f", "one 10 MB line", long_line),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class Gateway:
    def __init__(self, bindir, policy, state):
        self.state, self.port, self.ops_port = state, free_port(), free_port()
        self.log = open(os.path.join(state, "..", os.path.basename(state) + ".log"), "wb")
        self.proc = subprocess.Popen([os.path.join(bindir, "sightline-gateway"), "serve", "--dev", "--state", state,
                                      "--port", str(self.port), "--ops-port", str(self.ops_port), "--policy", policy],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.peak_seen = 0
        self._stop = threading.Event()
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited {self.proc.returncode} at start; see {self.log.name}")
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{self.ops_port}/readyz", timeout=1).read().startswith(b"ready"):
                    break
            except OSError:
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError("gateway not ready after 120 s")
        self._monitor = threading.Thread(target=self._watch, daemon=True)
        self._monitor.start()

    def _watch(self):
        # VmHWM read after the shape is the figure; this keeps the last value seen in case the process dies.
        while not self._stop.is_set():
            v = proc_status(self.proc.pid, "VmHWM")
            if v:
                self.peak_seen = max(self.peak_seen, v)
            self._stop.wait(0.05)

    def hwm_kib(self):
        v = proc_status(self.proc.pid, "VmHWM") if self.proc.poll() is None else None
        return v if v is not None else self.peak_seen

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        self._stop.set()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def tls_context(state, identity):
    d = os.path.join(state, "identities", identity)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False  # the gateway's certificate is verified against ca.pem; its name is not checked
    ctx.load_verify_locations(os.path.join(d, "ca.pem"))
    ctx.load_cert_chain(os.path.join(d, "cert.pem"), os.path.join(d, "key.pem"))
    return ctx


def request(port, ctx, method, path, body=None, timeout=180.0, content_type="application/x-ndjson"):
    """One request on its own connection, with a total deadline enforced by a watchdog.
    Returns (status or 'timeout'/'error:...', error code from the JSON body, seconds)."""
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=timeout)
    timed_out = threading.Event()

    def fire():
        timed_out.set()
        try:
            if conn.sock:
                conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    watchdog = threading.Timer(timeout, fire)
    start = time.monotonic()
    watchdog.start()
    try:
        headers = {"Content-Type": content_type} if body is not None else {}
        try:
            conn.request(method, path, body=body, headers=headers)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass  # the server may answer and close before the whole body is sent: read what it said
        resp = conn.getresponse()
        data = resp.read()
        status = resp.status
        code = ""
        try:
            code = json.loads(data).get("error", "") if status >= 400 else ""
        except (ValueError, AttributeError):
            pass
        return status, code, time.monotonic() - start
    except Exception as e:  # noqa: BLE001 - anything here is a result to report
        if timed_out.is_set():
            return "timeout", "", time.monotonic() - start
        return f"error:{type(e).__name__}", "", time.monotonic() - start
    finally:
        watchdog.cancel()
        conn.close()


class GoodClient:
    """partner-304-cme reading GET /v1/inbox every 100 ms on a kept-alive connection."""

    def __init__(self, port, ctx, timeout):
        self.port, self.ctx, self.timeout = port, ctx, timeout
        self.samples = []  # (start time, latency, status)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _connect(self):
        c = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=self.timeout)
        c.connect()
        return c

    def _run(self):
        conn = None
        while not self._stop.is_set():
            t0 = time.monotonic()
            try:
                if conn is None:
                    conn = self._connect()
                conn.request("GET", "/v1/inbox")
                r = conn.getresponse()
                r.read()
                status = r.status
            except Exception as e:  # noqa: BLE001
                status = "timeout" if isinstance(e, (socket.timeout, TimeoutError)) else f"error:{type(e).__name__}"
                try:
                    conn and conn.close()
                except Exception:  # noqa: BLE001
                    pass
                conn = None
            self.samples.append((t0, time.monotonic() - t0, status))
            self._stop.wait(0.1)
        if conn:
            conn.close()

    def start(self):
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join(self.timeout + 10)


def run_shape(bindir, policy, shape, timeout, work):
    key, label, make = shape
    state = tempfile.mkdtemp(prefix=f"shape-{key}-", dir=work)
    gw = Gateway(bindir, policy, state)
    result = {"shape": key, "label": label}
    try:
        # Idle baseline: one good submission, then the peak so far.
        st, code, secs = request(gw.port, tls_context(state, "school-100001"), "POST", "/v1/submissions", GOOD_RECORD, timeout)
        result["good_submission"] = st
        result["baseline_hwm_kib"] = gw.hwm_kib()
        good_ctx = tls_context(state, GOOD_IDENTITY)
        idle = [request(gw.port, good_ctx, "GET", "/v1/inbox", timeout=timeout) for _ in range(5)]
        result["idle_inbox_s"] = statistics.median(s for _, _, s in idle)

        body = make()
        result["body_bytes"] = len(body)
        ctype = "application/json" if body[:1] == b"[" else "application/x-ndjson"
        ctxs = [tls_context(state, ident) for ident in HOSTILE_IDENTITIES]
        hostile = [None] * len(ctxs)

        def send(i):
            hostile[i] = request(gw.port, ctxs[i], "POST", "/v1/submissions", body, timeout, ctype)
        good = GoodClient(gw.port, good_ctx, timeout)
        good.start()
        time.sleep(0.3)
        attack_start = time.monotonic()
        threads = [threading.Thread(target=send, args=(i,)) for i in range(len(ctxs))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        attack_end = time.monotonic()
        good.stop()
        during = [(lat, st) for (t0, lat, st) in good.samples if attack_start <= t0 <= attack_end]
        lats = [lat for lat, _ in during]
        result["hostile"] = [{"status": s, "error": c, "seconds": round(w, 2)} for (s, c, w) in hostile]
        result["attack_s"] = attack_end - attack_start
        result["good_n"] = len(lats)
        result["good_failed"] = sum(1 for _, st in during if st != 200)
        result["good_median_s"] = statistics.median(lats) if lats else None
        result["good_max_s"] = max(lats) if lats else None
        result["alive"] = gw.alive()
        result["peak_hwm_kib"] = gw.hwm_kib()
    finally:
        gw.stop()
        shutil.rmtree(state, ignore_errors=True)
    return result


def fmt_s(v):
    if v is None:
        return "-"
    return f"{v * 1000:.0f} ms" if v < 1 else f"{v:.1f} s"


def fmt_mib(kib):
    return f"{kib / 1024:,.0f} MiB" if kib else "-"


def summarise(runs):
    """Medians over runs of one shape; statuses as seen (all runs)."""
    first = runs[0]
    statuses = {}
    for r in runs:
        for h in r["hostile"]:
            k = f"{h['status']}" + (f" {h['error']}" if h["error"] else "")
            statuses[k] = statuses.get(k, 0) + 1
    med = lambda xs: statistics.median(xs) if xs else None  # noqa: E731
    return {
        "shape": first["shape"], "label": first["label"], "body_bytes": first["body_bytes"],
        "statuses": ", ".join(f"{n}x {k}" for k, n in sorted(statuses.items())),
        "hostile_median_s": med([h["seconds"] for r in runs for h in r["hostile"]]),
        "hostile_max_s": max(h["seconds"] for r in runs for h in r["hostile"]),
        "good_median_s": med([r["good_median_s"] for r in runs if r["good_median_s"] is not None]),
        "good_max_s": med([r["good_max_s"] for r in runs if r["good_max_s"] is not None]),
        "good_failed": sum(r["good_failed"] for r in runs), "good_n": sum(r["good_n"] for r in runs),
        "baseline_hwm_kib": med([r["baseline_hwm_kib"] for r in runs]),
        "peak_hwm_kib": med([r["peak_hwm_kib"] for r in runs]),
        "alive": all(r["alive"] for r in runs), "runs": len(runs),
    }


def table(summaries):
    out = ["| shape | body | 4 hostile: status | hostile wall time (median / max) | good inbox GET during attack (median / max) "
           "| good GETs failed | gateway VmHWM (idle after 1 good submission -> after attack) |",
           "|---|---|---|---|---|---|---|"]
    for s in summaries:
        dead = "" if s["alive"] else " **gateway died**"
        out.append(f"| ({s['shape']}) {s['label']} | {s['body_bytes']:,} B | {s['statuses']}{dead} "
                   f"| {fmt_s(s['hostile_median_s'])} / {fmt_s(s['hostile_max_s'])} "
                   f"| {fmt_s(s['good_median_s'])} / {fmt_s(s['good_max_s'])} | {s['good_failed']} of {s['good_n']} "
                   f"| {fmt_mib(s['baseline_hwm_kib'])} -> {fmt_mib(s['peak_hwm_kib'])} |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="directory holding sightline-gateway")
    ap.add_argument("--policy", default=os.path.join(ROOT, "Policies"), help="policy directory (default: this checkout's)")
    ap.add_argument("--shapes", default="abcdef", help="which shapes, e.g. 'ab' (default all)")
    ap.add_argument("--runs", type=int, default=1, help="runs per shape; the table gives medians")
    ap.add_argument("--timeout", type=float, default=180.0, help="per-request deadline in seconds")
    ap.add_argument("--json", help="write every measurement here")
    ap.add_argument("--work", default=None, help="parent of the temporary state directories")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="hostile-bodies-", dir=args.work)
    shapes = [s for s in SHAPES if s[0] in args.shapes]
    all_runs = []
    for n in range(args.runs):
        for shape in shapes:
            r = run_shape(args.bin, args.policy, shape, args.timeout, work)
            r["run"] = n + 1
            all_runs.append(r)
            print(f"run {n + 1} ({r['shape']}): hostile {[(h['status'], h['error'], h['seconds']) for h in r['hostile']]}; "
                  f"good median {fmt_s(r['good_median_s'])} max {fmt_s(r['good_max_s'])} ({r['good_failed']}/{r['good_n']} failed); "
                  f"VmHWM {fmt_mib(r['baseline_hwm_kib'])} -> {fmt_mib(r['peak_hwm_kib'])}; alive {r['alive']}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(all_runs, f, indent=1)
    summaries = [summarise([r for r in all_runs if r["shape"] == s[0]]) for s in shapes]
    print()
    print(table(summaries))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
