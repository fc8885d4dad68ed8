#!/usr/bin/env python3
"""Sightline reliability suite: crashes, load, hostile API input, privacy at rest.

Runs the real binaries (sightline-gateway, sightline) on loopback in temporary state
directories and prints what it measured. Exits 1 if an acknowledged record is lost or
duplicated, the audit log does not verify, the API answers 5xx, or a raw identifier from the
sample data is found at rest.

  python3 ops/reliability/reliability.py --short        # the CI version (a few minutes)
  python3 ops/reliability/reliability.py                # the full version (20 crashes, 64 clients x 60 s)
"""
import argparse, json, os, random, re, shutil, signal, sqlite3, subprocess, sys, tempfile, threading, time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "ops", "sample-data")
MAPS = os.path.join(ROOT, "ops", "mappings")
SUBMISSIONS = [(f"school-{u}", k, f"school-{u}/{f}", m) for u in ("100001", "100002", "100003") for (k, f, m) in (
    ("school.enrolment", "enrolment.csv", "school-enrolment.yaml"),
    ("school.attendance", "attendance.csv", "school-attendance.yaml"),
    ("school.exclusion", "exclusions.ndjson", None))] + [
    ("nhs-Y12345", "nhs.gp-registration", "nhs/gp-registrations.ndjson", None),
    ("police-MPS", "police.notification", "police/notifications.ndjson", None),
    ("housing-brent", "housing.tenancy", "housing/tenancies.csv", "housing-tenancy.yaml"),
    ("la-304", "la.register", "la/registers.ndjson", None),
]
failures = []


def log(msg):
    print(msg, flush=True)


def fail(msg):
    failures.append(msg)
    log("FAIL: " + msg)


def bin_path():
    out = subprocess.run(["swift", "build", "--show-bin-path"], cwd=ROOT, capture_output=True, text=True, check=True)
    return out.stdout.strip()


class Gateway:
    """A sightline-gateway --dev process."""

    def __init__(self, bindir, state, port, ops_port, logfile):
        self.bindir, self.state, self.port, self.ops_port = bindir, state, port, ops_port
        self.logfile = open(logfile, "ab")
        self.proc = subprocess.Popen([os.path.join(bindir, "sightline-gateway"), "serve", "--dev", "--state", state,
                                      "--port", str(port), "--ops-port", str(ops_port), "--policy", os.path.join(ROOT, "Policies")],
                                     stdout=self.logfile, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("gateway exited at start")
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{ops_port}/readyz", timeout=1).read().startswith(b"ready"):
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("gateway not ready")

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=30)
        if code != 0:
            fail(f"gateway exited {code} on SIGTERM")

    def rss_kib(self, field="VmRSS"):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        return 0


def submit_all(bindir, state, port, timeout=600, stop_on_failure=False):
    """Submits every sample file; returns True if every submit completed (exit 0 or 3)."""
    ok = True
    for identity, kind, path, mapping in SUBMISSIONS:
        cmd = [os.path.join(bindir, "sightline"), "submit", "--gateway", f"https://127.0.0.1:{port}",
               "--identity", os.path.join(state, "identities", identity), "--kind", kind, "--json", os.path.join(DATA, path)]
        if mapping:
            cmd += ["--mapping", os.path.join(MAPS, mapping)]
        try:
            r = subprocess.run(cmd, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        if r.returncode not in (0, 3):
            ok = False
            if stop_on_failure:
                return False
    return ok


def db_counts(state):
    con = sqlite3.connect(f"file:{os.path.join(state, 'sightline.sqlite')}?mode=ro", uri=True)
    try:
        records = con.execute("SELECT COUNT(*) FROM record").fetchone()[0]
        distinct = con.execute("SELECT COUNT(*) FROM (SELECT DISTINCT source, kind, reference_key FROM record)").fetchone()[0]
        subjects = con.execute("SELECT COUNT(*) FROM subject").fetchone()[0]
        forwards = con.execute("SELECT COUNT(*) FROM forward").fetchone()[0]
        audit = con.execute("SELECT COUNT(*) FROM audit_entry").fetchone()[0]
        return dict(records=records, distinct=distinct, subjects=subjects, forwards=forwards, audit=audit)
    finally:
        con.close()


def audit_verifies(bindir, state):
    r = subprocess.run([os.path.join(bindir, "sightline"), "audit", "verify", "--database", os.path.join(state, "sightline.sqlite")],
                       capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"audit verify failed: {(r.stdout + r.stderr)[-400:]}")
    return r.returncode == 0


def crash_test(bindir, work, kills, port):
    log(f"== crash: kill -9 the daemon at random moments during ingest, {kills} times")
    reference = os.path.join(work, "reference")
    g = Gateway(bindir, reference, port, port + 1000, os.path.join(work, "reference.log"))
    submit_all(bindir, reference, port)
    g.stop()
    expected = db_counts(reference)
    state = os.path.join(work, "crash")
    rng = random.Random(20261129)
    for i in range(kills):
        g = Gateway(bindir, state, port, port + 1000, os.path.join(work, "crash.log"))
        t = threading.Thread(target=submit_all, args=(bindir, state, port, 60, True))
        t.start()
        time.sleep(rng.uniform(0.2, 2.5))
        g.kill9()
        t.join()
    g = Gateway(bindir, state, port, port + 1000, os.path.join(work, "crash.log"))
    complete = submit_all(bindir, state, port)
    g.stop()
    got = db_counts(state)
    missing = expected["records"] - got["records"]
    duplicates = got["records"] - got["distinct"]
    log(f"   reference run: {expected}")
    log(f"   after {kills} kills and retries with the same idempotency keys: {got}")
    log(f"   acknowledged records missing: {max(0, missing)}; duplicates: {duplicates}; forwards reference {expected['forwards']} vs {got['forwards']}")
    if not complete:
        fail("the final, uninterrupted submit did not complete")
    if missing != 0:
        fail(f"{missing} records missing after crashes")
    if duplicates != 0:
        fail(f"{duplicates} duplicate records after crashes")
    if got["forwards"] != expected["forwards"]:
        fail(f"forwards: {got['forwards']} after crashes, {expected['forwards']} in the reference run")
    if audit_verifies(bindir, state):
        log("   audit log verifies")
    return [reference, state]


def load_test(bindir, work, clients, seconds, port):
    log(f"== load: {clients} concurrent clients for {seconds} s, single-record submissions on keep-alive mTLS")
    import requests  # PyPI's requests; urllib3 keeps connections alive per session
    state = os.path.join(work, "load")
    g = Gateway(bindir, state, port, port + 1000, os.path.join(work, "load.log"))
    ident = os.path.join(state, "identities", "nhs-Y12345")
    with open(os.path.join(DATA, "nhs", "gp-registrations.ndjson")) as f:
        records = [json.loads(l) for l in f if '"nhsNumber"' in l][:500]
    rss_start = g.rss_kib()
    latencies, errors, statuses = [], [], {}
    lock = threading.Lock()
    stop_at = time.time() + seconds

    def worker(n):
        s = requests.Session()
        s.cert = (os.path.join(ident, "cert.pem"), os.path.join(ident, "key.pem"))
        s.verify = os.path.join(ident, "ca.pem")
        s.trust_env = False  # REQUESTS_CA_BUNDLE would otherwise replace the partnership CA
        i = 0
        while time.time() < stop_at:
            rec = dict(records[(n * 7 + i) % len(records)])
            rec["localRef"] = f"LOAD-{n}-{i}"
            i += 1
            t0 = time.perf_counter()
            try:
                r = s.post(f"https://127.0.0.1:{port}/v1/submissions", data=json.dumps(rec), timeout=30,
                           headers={"Content-Type": "application/x-ndjson"})
                dt = time.perf_counter() - t0
                with lock:
                    latencies.append(dt)
                    statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            except Exception as e:  # noqa: BLE001 - every failure is counted
                with lock:
                    errors.append(type(e).__name__)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rss_end, hwm = g.rss_kib(), g.rss_kib("VmHWM")
    g.stop()
    latencies.sort()
    pct = lambda p: latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else float("nan")
    log(f"   requests {len(latencies)} ({len(latencies) / seconds:.0f}/s), statuses {statuses}, errors {len(errors)} {sorted(set(errors))}")
    log(f"   latency p50 {pct(0.50):.1f} ms, p90 {pct(0.90):.1f} ms, p99 {pct(0.99):.1f} ms, max {pct(1.0):.1f} ms")
    log(f"   daemon memory: RSS {rss_start / 1024:.1f} MiB at start, {rss_end / 1024:.1f} MiB at end, peak {hwm / 1024:.1f} MiB")
    if any(s >= 500 for s in statuses):
        fail(f"5xx answers under load: {statuses}")
    if errors:
        fail(f"{len(errors)} client errors under load")
    return [state]


def api_fuzz(bindir, work, port, examples):
    log("== bad input: schemathesis against ops/openapi.yaml, as a school, a partner, the steward and an auditor")
    exe = shutil.which("schemathesis") or shutil.which("st")
    if not exe:
        fail("schemathesis is not installed (pip install schemathesis)")
        return []
    state = os.path.join(work, "fuzz")
    g = Gateway(bindir, state, port, port + 1000, os.path.join(work, "fuzz.log"))
    for who in ("school-100001", "partner-304-cme", "steward-304", "auditor-dpo"):
        ident = os.path.join(state, "identities", who)
        cmd = [exe, "run", os.path.join(ROOT, "ops", "openapi.yaml"), "--url", f"https://127.0.0.1:{port}",
               "--request-cert", os.path.join(ident, "cert.pem"), "--request-cert-key", os.path.join(ident, "key.pem"),
               "--tls-verify", os.path.join(ident, "ca.pem"), "--checks", "not_a_server_error",
               "--max-examples", str(examples), "--phases", "examples,fuzzing"]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        summary = [l.strip() for l in (r.stdout + r.stderr).splitlines() if "generated" in l or "failed" in l.lower()][-2:]
        log(f"   as {who}: exit {r.returncode}; " + " | ".join(summary))
        if r.returncode != 0:
            log("   " + "\n   ".join((r.stdout + r.stderr).strip().splitlines()[-25:]))
            fail(f"schemathesis found failures as {who}")
        if g.proc.poll() is not None:
            fail("the gateway died under fuzzing")
            return [state]
    g.stop()
    return [state]


def identifiers():
    """Every raw identifier in the sample data (five characters or more). A date of birth that is
    also some record's field value (an on-roll date, say) is legitimately stored, so it is left out."""
    needles, field_values = set(), set()
    for dirpath, _, files in os.walk(DATA):
        for name in files:
            path = os.path.join(dirpath, name)
            if name.endswith(".ndjson"):
                for line in open(path):
                    try:
                        ids = json.loads(line).get("identifiers", {})
                    except ValueError:
                        continue
                    for v in json.loads(line).get("fields", {}).values():
                        field_values.add(str(v))
                    for k, v in ids.items():
                        if isinstance(v, str):
                            needles.add(v.strip())
                            if k == "nhsNumber":
                                needles.add(v.replace(" ", ""))
            elif name.endswith(".csv") and name not in ("ground-truth.csv", "faults.csv"):
                import csv
                for row in csv.DictReader(open(path, newline="")):
                    for col, v in row.items():
                        if col in ("DOB", "Child DOB"):
                            continue
                        m = re.fullmatch(r"(\d\d)/(\d\d)/(\d{4})", (v or "").strip())
                        if m:
                            field_values.add(f"{m.group(3)}-{m.group(2)}-{m.group(1)}")
                    for col in ("UPN", "Legal Surname", "Legal Forename", "Surname", "Forename", "Child Forename", "Child Surname", "NHS Number", "Postcode", "Address 1", "UPRN"):
                        v = (row.get(col) or "").strip()
                        if v:
                            needles.add(v)
                            needles.add(v.replace(" ", "")) if col == "NHS Number" else None
    return {n for n in needles if len(n) >= 5} - field_values


def privacy_scan(states, work):
    log("== privacy at rest: raw identifiers in state directories, logs and audit exports")
    needles = identifiers()
    plain = {n.encode() for n in needles if re.fullmatch(r"[A-Za-z0-9]+", n)}
    others = [n.encode() for n in needles if not re.fullmatch(r"[A-Za-z0-9]+", n)]
    edge = re.compile(rb"[A-Za-z0-9]")
    scanned, found = 0, {}
    paths = []
    for s in states:
        for dirpath, _, files in os.walk(s):
            if "identities" in dirpath or dirpath.endswith(("/ca", "/gateway")):
                continue
            paths += [os.path.join(dirpath, f) for f in files]
    paths += [os.path.join(work, f) for f in os.listdir(work) if f.endswith((".log", ".ndjson"))]
    for p in paths:
        data = open(p, "rb").read()
        scanned += len(data)
        # Whole tokens only: "Grace" is a name, "graceful" in a log line is not.
        hits = plain.intersection(re.findall(rb"[A-Za-z0-9]+", data))
        for n in others:
            i = data.find(n)
            while i >= 0:
                before = data[i - 1:i] if i > 0 else b""
                after = data[i + len(n):i + len(n) + 1]
                if not (before and edge.match(before)) and not (after and edge.match(after)):
                    hits.add(n)
                    break
                i = data.find(n, i + 1)
        if hits:
            found[p] = len(hits)
    log(f"   {len(needles)} identifiers searched in {len(paths)} files ({scanned / 1e6:.1f} MB): {len(found)} files with hits")
    for p, n in found.items():
        fail(f"{n} raw identifier(s) in {p}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--short", action="store_true", help="the CI version")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    kills, clients, seconds, examples = (3, 8, 5, 20) if args.short else (20, 64, 60, 200)
    bindir = bin_path()
    work = tempfile.mkdtemp(prefix="sightline-reliability-")
    port = random.randint(21000, 28000)
    states = []
    try:
        states += crash_test(bindir, work, kills, port)
        states += load_test(bindir, work, clients, seconds, port + 1)
        states += api_fuzz(bindir, work, port + 2, examples)
        for s in states:
            audit_export = os.path.join(s, "audit-export.ndjson")
            subprocess.run([os.path.join(bindir, "sightline"), "audit", "export", "--database", os.path.join(s, "sightline.sqlite"),
                            "--out", audit_export], capture_output=True)
        privacy_scan(states, work)
    finally:
        if args.keep:
            log(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    log("reliability: " + ("every check held (crash, load, API fuzz, privacy at rest)" if not failures else f"{len(failures)} problem(s) found"))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
