#!/usr/bin/env python3
"""Browser test of the Sightline web console (/console/ on the gateway's API listener).

    python3 ops/console/console_test.py [--bin .build/debug] [--keep]

Needs the built binaries (sightline-gateway, sightline) in --bin, Playwright for Python and
axe-playwright-python (`pip install playwright axe-playwright-python`) and a Chromium on the
machine (Debian's `chromium`, at /usr/bin/chromium; --chromium PATH for another). Playwright's
own browser download is not used.

It starts a dev gateway of its own on free loopback ports in a temporary state directory, submits
the sample data as ops/demo.sh does, then opens every page in PAGES as every role it lists, each
in a browser context that presents that participant's certificate (there is no other login), and
checks: the report shows exactly the children the JSON API lists, with matching count and charts;
filtering, the CSV download, sorting by mouse and by keyboard; the security headers; that no
request leaves the gateway; 403 "Not allowed" for other roles; axe-core (no serious or critical
violation). Then user flows, one page leading to the next:
- a partner opens a child's page from the report, checks that a GP-registered child's page (found by
  POST /v1/match) shows none of its identifiers, and asks the agencies an enquiry from it; the
  enquiries page lists it, and the GP practice (nhs-Y12345) finds it in its inbox and acknowledges;
- the steward decides the first review pair with the keyboard only ("different"); the auditor
  finds the decision in the audit log;
- the auditor, after a checkpoint, checks an entry's inclusion proof in the page (and that an altered
  proof is refused), and has the gateway verify the whole log.
It saves screenshots of the first screen to ops/console/ (home.png, missing-education.png,
review.png, audit.png) and prints timings. Exit 0: every check passed; 1: some failed (each says
why); 2: it could not set up.
The gateway and the temporary directory are removed in every case (--keep keeps the directory).

A new page is one more entry in PAGES: its path, the roles that may open it, the roles that must
be refused, and (optionally) a screenshot and a function of checks of its own.
"""
import argparse, contextlib, csv, ctypes, http.client, io, json, os, re, shutil, signal, socket, ssl, subprocess, sys, tempfile, time
import urllib.parse, urllib.request
from dataclasses import dataclass, field
from typing import Callable, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.join(ROOT, "ops", "console")
DATA = os.path.join(ROOT, "ops", "sample-data")
MAPS = os.path.join(ROOT, "ops", "mappings")

# What ops/demo.sh submits, in its order: (identity, kind, file, mapping).
SUBMISSIONS = [(f"school-{u}", k, f"school-{u}/{f}", m) for u in ("100001", "100002", "100003") for (k, f, m) in (
    ("school.enrolment", "enrolment.csv", "school-enrolment.yaml"),
    ("school.attendance", "attendance.csv", "school-attendance.yaml"),
    ("school.exclusion", "exclusions.ndjson", None))] + [
    ("nhs-Y12345", "nhs.gp-registration", "nhs/gp-registrations.ndjson", None),
    ("police-MPS", "police.notification", "police/notifications.ndjson", None),
    ("housing-brent", "housing.tenancy", "housing/tenancies.csv", "housing-tenancy.yaml"),
    ("la-304", "la.register", "la/registers.ndjson", None),
]

ROLES = ["partner-304-cme", "partner-304-mash", "school-100001", "steward-304", "auditor-dpo"]
PSEUDONYM = re.compile(r"^ps_[0-9a-f]{32}$")
# Column labels on the report page for the API's keys (ConsoleRoutes.label).
COLUMN_LABELS = {"pseudonym": "Pseudonym", "postcodeDistrict": "District", "schoolYearGroup": "Year group", "status": "Status"}


class CheckFailed(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise CheckFailed(message)


def text(value):
    """A JSON value as the console shows it (ConsoleRoutes.text)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return str(int(value)) if float(value).is_integer() else str(value)
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(text(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {text(value[k])}" for k in sorted(value))
    return str(value)


def order_key(s):
    """How the page's script orders a column: numbers as numbers, before text."""
    return (0, int(s), "") if re.fullmatch(r"\d+", s) else (1, 0, s)


# ----------------------------------------------------------------------------------------------
# Results

class Results:
    def __init__(self):
        self.passed, self.failed, self.notes, self.timings = [], [], [], []

    @contextlib.contextmanager
    def check(self, name):
        """One check: an exception inside fails it (with its message) and the run goes on."""
        start = time.monotonic()
        try:
            yield
        except CheckFailed as e:
            self._fail(name, str(e), start)
        except Exception as e:  # a Playwright timeout, a missing element: the check failed, say how
            self._fail(name, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}", start)
        else:
            self.passed.append(name)
            print(f"PASS  {name}  ({time.monotonic() - start:.2f} s)", flush=True)

    def _fail(self, name, message, start):
        self.failed.append((name, message))
        print(f"FAIL  {name}  ({time.monotonic() - start:.2f} s)\n      {message}", flush=True)

    def note(self, message):
        self.notes.append(message)
        print(f"NOTE  {message}", flush=True)

    def timing(self, what, seconds, detail=""):
        self.timings.append((what, seconds, detail))
        print(f"TIME  {what}: {seconds:.2f} s{'  (' + detail + ')' if detail else ''}", flush=True)


# ----------------------------------------------------------------------------------------------
# The gateway

def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def die_with_parent():
    """In the gateway's process: receive SIGTERM if this test dies without cleaning up (Linux)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class Gateway:
    def __init__(self, bindir, state):
        self.bindir, self.state = bindir, state
        self.port, self.ops_port = free_ports(2)
        self.origin = f"https://127.0.0.1:{self.port}"
        self.log_path = os.path.join(state, "gateway.log")
        self.proc = None

    def identity(self, role):
        return os.path.join(self.state, "identities", role)

    def start(self):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([os.path.join(self.bindir, "sightline-gateway"), "serve", "--dev", "--state", self.state,
                                      "--port", str(self.port), "--ops-port", str(self.ops_port),
                                      "--policy", os.path.join(ROOT, "Policies")],
                                     cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the gateway exited with {self.proc.returncode} at start:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.ops_port}/readyz", timeout=1) as r:
                    if r.status == 200 and r.read().startswith(b"ready"):
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the gateway did not answer /readyz within 60 s:\n{self.log_tail()}")

    def submit_samples(self):
        for identity, kind, path, mapping in SUBMISSIONS:
            cmd = [os.path.join(self.bindir, "sightline"), "submit", "--gateway", self.origin, "--identity", self.identity(identity),
                   "--kind", kind, "--quiet"] + (["--mapping", os.path.join(MAPS, mapping)] if mapping else []) + [os.path.join(DATA, path)]
            r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
            # 3 = completed with rejected records: the sample data has faults on purpose.
            if r.returncode not in (0, 3):
                raise RuntimeError(f"{identity} submitting {path} exited {r.returncode}:\n{(r.stdout + r.stderr)[-1500:]}")

    def ssl_context(self, role):
        ctx = ssl.create_default_context(cafile=os.path.join(self.identity(role), "ca.pem"))
        ctx.load_cert_chain(os.path.join(self.identity(role), "cert.pem"), os.path.join(self.identity(role), "key.pem"))
        return ctx

    def request(self, role, method, path, payload=None):
        """A request over mTLS as a participant (payload: sent as JSON): (status, headers as a lower-cased dict, body bytes)."""
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ssl_context(role), timeout=60)
        headers = {"Accept": "application/json"}
        body = None
        if payload is not None:
            body, headers["Content-Type"] = json.dumps(payload).encode(), "application/json"
        try:
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    def get(self, role, path):
        return self.request(role, "GET", path)

    def post(self, role, path, payload):
        return self.request(role, "POST", path, payload)

    def api_rows(self, role, name, purpose):
        status, _, body = self.get(role, f"/v1/reports/{name}?purpose={urllib.parse.quote(purpose)}")
        if status != 200:
            raise CheckFailed(f"GET /v1/reports/{name}?purpose={purpose} as {role} answered {status}: {body[:300]!r}")
        return json.loads(body)["rows"]

    def log_tail(self, n=25):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no gateway log)"

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ----------------------------------------------------------------------------------------------
# The browser

class Visit:
    """One browser tab of a role, recording every request, console message and script error."""

    def __init__(self, run, role):
        self.run, self.role = run, role
        self.page = run.context(role).new_page()
        self.requests, self.responses, self.console, self.errors = [], [], [], []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("response", lambda r: self.responses.append(r))
        self.page.on("console", lambda m: self.console.append((m.type, m.text, (m.location or {}).get("url", ""))))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def goto(self, path):
        """Opens path; returns the response and the seconds until the load event."""
        start = time.monotonic()
        response = self.page.goto(self.run.gw.origin + path, wait_until="load")
        return response, time.monotonic() - start

    def navigation_timing(self):
        t = self.page.evaluate("() => { const n = performance.getEntriesByType('navigation')[0]; return n ? n.toJSON() : null; }")
        if not t:
            return ""
        return (f"first byte {(t['responseStart'] - t['requestStart']) / 1000:.2f} s, "
                f"DOM ready {t['domContentLoadedEventEnd'] / 1000:.2f} s, load {t['loadEventEnd'] / 1000:.2f} s")

    def close(self):
        self.page.close()


SECURITY_HEADERS = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}


def header_problems(headers):
    """What is missing or wrong among the console's security headers (headers lower-cased)."""
    problems = []
    csp = headers.get("content-security-policy")
    if not csp:
        problems.append("no Content-Security-Policy")
    else:
        directives = {d.strip().split(" ")[0]: d.strip() for d in csp.split(";") if d.strip()}
        if "'unsafe-inline'" in csp:
            problems.append(f"Content-Security-Policy allows 'unsafe-inline': {csp}")
        if "'unsafe-eval'" in csp:
            problems.append(f"Content-Security-Policy allows 'unsafe-eval': {csp}")
        if directives.get("frame-ancestors") != "frame-ancestors 'none'":
            problems.append(f"Content-Security-Policy lacks frame-ancestors 'none': {csp}")
    for name, value in SECURITY_HEADERS.items():
        if headers.get(name, "").strip().lower() != value:
            problems.append(f"{name}: {headers.get(name)!r}, expected {value!r}")
    if "no-store" not in headers.get("cache-control", ""):
        problems.append(f"cache-control: {headers.get('cache-control')!r}, expected no-store")
    return problems


@dataclass
class PageSpec:
    """A console page: where it is, who may open it, who must be refused, what else to check."""
    name: str
    path: object                                # "/console/...", or a function of the Run that gives it
    allowed: list
    forbidden: list = field(default_factory=list)
    screenshot: Optional[tuple] = None          # (role, file name in ops/console/)
    checks: Optional[Callable] = None           # checks(run, visit, spec), on the loaded page, per allowed role

    def url(self, run):
        return self.path(run) if callable(self.path) else self.path


class Run:
    def __init__(self, args, gw, browser, results):
        self.args, self.gw, self.browser, self.results = args, gw, browser, results
        self.contexts = {}
        # What one flow leaves for a later one (None: that flow did not get so far).
        self.decided = None     # the review pair the steward decided
        self.enquiry = None     # the enquiry asked from a child's page: question, pseudonym, holders, reference

    def context(self, role):
        if role not in self.contexts:
            ident = self.gw.identity(role)
            # The browser presents the participant's certificate to the gateway's origin. The dev CA
            # is not in the browser's trust store, so the gateway's certificate is not verified here
            # (ignore_https_errors); the API checks below verify it against the dev CA.
            ctx = self.browser.new_context(
                client_certificates=[{"origin": self.gw.origin, "certPath": os.path.join(ident, "cert.pem"),
                                      "keyPath": os.path.join(ident, "key.pem")}],
                ignore_https_errors=True, viewport={"width": 1280, "height": 900}, accept_downloads=True, locale="en-GB")
            ctx.set_default_timeout(20_000)
            self.contexts[role] = ctx
        return self.contexts[role]

    def close(self):
        for ctx in self.contexts.values():
            with contextlib.suppress(Exception):
                ctx.close()


# ----------------------------------------------------------------------------------------------
# Checks every page gets

def check_page(run, spec, role):
    r = run.results
    label = f"{spec.name} as {role}"
    visit = Visit(run, role)
    try:
        loaded = False
        with r.check(f"{label}: opens (200, HTML, main#main, one h1, a nav with links)"):
            response, seconds = visit.goto(spec.url(run))
            run.results.timing(f"{label} page load", seconds, visit.navigation_timing())
            expect(response is not None, "no response")
            expect(response.status == 200, f"status {response.status}, heading {visit.page.locator('h1').all_text_contents()}")
            expect(response.all_headers().get("content-type", "").startswith("text/html"), f"content-type {response.all_headers().get('content-type')!r}")
            expect(visit.page.locator("main#main").count() == 1, "no <main id=\"main\">")
            headings = visit.page.locator("h1").all_text_contents()
            expect(len(headings) == 1 and headings[0].strip(), f"expected one non-empty <h1>, found {headings}")
            expect(visit.page.locator("main#main h1").count() == 1, "the <h1> is not inside main#main")
            expect(visit.page.locator("nav a[href]").count() >= 1, "no nav with links")
            expect(visit.page.title().strip(), "empty <title>")
            loaded = True
        if not loaded:
            return
        check_headers_and_assets(run, visit, label, response)
        check_axe(run, visit, label)
        if spec.screenshot and spec.screenshot[0] == role:
            save_screenshot(run, visit, label, spec.screenshot[1])
        if spec.checks:
            spec.checks(run, visit, spec)
        check_stays_on_gateway(run, visit, label)
    finally:
        visit.close()


def save_screenshot(run, visit, label, name):
    path = os.path.join(run.args.screenshots, name)
    # The first screen (1280 x 900), not the whole page: a report of hundreds of rows would be
    # a PNG of megabytes in the repository.
    with run.results.check(f"{label}: screenshot {os.path.relpath(path)}"):
        visit.page.screenshot(path=path, full_page=False)
        expect(os.path.getsize(path) > 1000, f"{path} is almost empty")


def check_headers_and_assets(run, visit, label, response):
    with run.results.check(f"{label}: security headers (CSP without 'unsafe-inline', frame-ancestors 'none', nosniff, no-referrer, no-store)"):
        problems = header_problems(response.all_headers())
        expect(not problems, "; ".join(problems))
    with run.results.check(f"{label}: no inline script or style; console.css and console.js load from the gateway"):
        inline = visit.page.evaluate("""() => [
            ...[...document.querySelectorAll('script:not([src])')].map(e => 'inline <script>: ' + e.outerHTML.slice(0, 80)),
            ...[...document.querySelectorAll('style')].map(e => 'inline <style>: ' + e.outerHTML.slice(0, 80)),
            ...[...document.querySelectorAll('[style]')].map(e => 'style attribute: ' + e.outerHTML.slice(0, 80)),
            ...[...document.querySelectorAll('*')].flatMap(e => [...e.attributes].filter(a => a.name.startsWith('on'))
                  .map(a => 'inline handler ' + a.name + ' on <' + e.tagName.toLowerCase() + '>')),
            ...[...document.querySelectorAll('a[href^="javascript:"]')].map(e => 'javascript: link ' + e.outerHTML.slice(0, 80)),
        ]""")
        expect(not inline, "; ".join(inline))
        wanted = {"/console/assets/console.css": "text/css", "/console/assets/console.js": "javascript"}
        linked = visit.page.eval_on_selector_all("link[rel=stylesheet], script[src]", "es => es.map(e => e.href || e.src)")
        expect(sorted(urllib.parse.urlsplit(u).path for u in linked) == sorted(wanted) and all(u.startswith(run.gw.origin + "/") for u in linked),
               f"the page links {linked}, expected the gateway's {sorted(wanted)}")
        seen = {urllib.parse.urlsplit(x.url).path: x for x in visit.responses}
        for path, kind in wanted.items():
            if path in seen:
                status, headers = seen[path].status, seen[path].all_headers()
            else:  # from the browser's cache: ask the gateway itself
                status, headers, _ = run.gw.get(visit.role, path)
            expect(status == 200, f"{path} answered {status}")
            expect(kind in headers.get("content-type", ""), f"{path} has content-type {headers.get('content-type')!r}")
            problems = header_problems(headers)
            expect(not problems, f"{path}: " + "; ".join(problems))


def check_axe(run, visit, label):
    from axe_playwright_python.sync_playwright import Axe
    with run.results.check(f"{label}: axe-core finds no serious or critical violation"):
        start = time.monotonic()
        found = Axe().run(visit.page, options={"resultTypes": ["violations"]}).response["violations"]
        run.results.timing(f"{label} axe-core run", time.monotonic() - start)
        bad = []
        for v in found:
            nodes = "; ".join(f"{', '.join(map(str, n['target']))} {n.get('html', '')[:120]!r}" for n in v["nodes"][:5])
            line = f"{v['id']} ({v['impact']}, {len(v['nodes'])} element(s)): {v['help']} -- {nodes}"
            if v["impact"] in ("serious", "critical"):
                bad.append(line)
            else:
                run.results.note(f"{label}: axe {line}")
        expect(not bad, "\n      ".join(bad))


def check_stays_on_gateway(run, visit, label, expected_status=None):
    with run.results.check(f"{label}: every request goes to the gateway; no CSP violation or script error"):
        elsewhere = sorted({u for u in visit.requests if not u.startswith(run.gw.origin + "/")})
        expect(visit.requests, "no request was recorded")
        expect(not elsewhere, f"requests outside {run.gw.origin}: {elsewhere}")
        expect(not visit.errors, f"script errors: {visit.errors}")
        csp = [t for kind, t, _ in visit.console if "Content Security Policy" in t or "Refused to" in t]
        expect(not csp, f"CSP violations: {csp}")
    # Other console errors (a missing favicon, say) are reported, not failed.
    for kind, message, url in sorted(set(visit.console)):
        if expected_status and f"status of {expected_status}" in message and urllib.parse.urlsplit(url).path.startswith("/console/"):
            continue  # the refusal itself
        if kind in ("error", "warning") and "Content Security Policy" not in message and "Refused to" not in message:
            run.results.note(f"{label}: browser console {kind}: {message} {url}")


def check_refused(run, spec, role):
    label = f"{spec.name} as {role}"
    visit = Visit(run, role)
    try:
        with run.results.check(f"{label}: refused with 403 and a page headed \"Not allowed\", with the security headers"):
            response, seconds = visit.goto(spec.url(run))
            expect(response is not None, "no response")
            headings = visit.page.locator("h1").all_text_contents()
            expect(response.status == 403, f"status {response.status} (expected 403), headings {headings}")
            expect(response.all_headers().get("content-type", "").startswith("text/html"), f"content-type {response.all_headers().get('content-type')!r}")
            expect(headings == ["Not allowed"], f"headings {headings}, expected ['Not allowed']")
            expect(visit.page.locator("main#main tbody tr").count() == 0, "the refusal page shows table rows")
            problems = header_problems(response.all_headers())
            expect(not problems, "; ".join(problems))
        check_axe(run, visit, f"{label} (Not allowed page)")
        check_stays_on_gateway(run, visit, f"{label} (Not allowed page)", expected_status=403)
    finally:
        visit.close()


# ----------------------------------------------------------------------------------------------
# The home page

def check_home(run, visit, spec):
    r, role, page = run.results, visit.role, visit.page
    label = f"{spec.name} as {role}"
    hrefs = [h for h in page.eval_on_selector_all("nav a[href], main a[href]", "es => es.map(e => e.getAttribute('href'))")]
    reports = sorted({h for h in hrefs if h.startswith("/console/reports/")})
    with r.check(f"{label}: links match the role (partners: a link to each report of their purposes)"):
        if role.startswith("partner-"):
            expect(reports, "a partner's home page links to no report")
            if role == "partner-304-cme":
                expect("/console/reports/missing-education?purpose=cme" in reports, f"no link to the cme missing-education report: {reports}")
            for h in reports:
                q = urllib.parse.parse_qs(urllib.parse.urlsplit(h).query)
                expect(q.get("purpose"), f"report link without a purpose: {h}")
        else:
            expect(not reports, f"a {role.split('-')[0]} is offered partner reports: {reports}")
    with r.check(f"{label}: every console link on the page opens (200){' and each report agrees with the API' if reports else ''}"):
        problems = []
        for h in sorted({h for h in hrefs if h.startswith("/console/") and not h.startswith("/console/assets/")}):
            response, seconds = visit.goto(h)
            if response.status != 200:
                problems.append(f"{h}: {response.status} {page.locator('h1').all_text_contents()}")
                continue
            if h.startswith("/console/reports/"):
                parts = urllib.parse.urlsplit(h)
                name = parts.path.rsplit("/", 1)[1]
                purpose = urllib.parse.parse_qs(parts.query)["purpose"][0]
                api = {row["pseudonym"] for row in run.gw.api_rows(role, name, purpose)}
                count = page.locator("#count").text_content().strip()
                shown = set(all_pages(visit))
                if shown != api or count != str(len(api)):
                    problems.append(f"{h}: shows {len(shown)} children, #count {count}, the API lists {len(api)}"
                                    f" ({len(api - shown)} missing, {len(shown - api)} extra)")
                r.timing(f"{h} as {role} page load", seconds)
        expect(not problems, "; ".join(problems))


# ----------------------------------------------------------------------------------------------
# A partner's report page

def column_index(page, key):
    labels = [t.strip() for t in page.locator("#report thead th").all_text_contents()]
    wanted = COLUMN_LABELS[key]
    if wanted not in labels:
        raise CheckFailed(f"no column {wanted!r} in the table's headings {labels}")
    return labels.index(wanted)


def column_values(page, index):
    return page.eval_on_selector_all("#report tbody tr.row", f"rows => rows.map(r => r.cells[{index}].textContent.trim())")


def bars(page, chart):
    """[(label, count text, suppressed)] of an SVG chart, from each bar's <title> "label: count"."""
    out = []
    for title, cls in page.eval_on_selector_all(f"svg#{chart} rect.bar", "rs => rs.map(r => [r.querySelector('title')?.textContent ?? '', r.getAttribute('class')])"):
        label, _, count = title.rpartition(": ")
        out.append((label, count, "suppressed" in cls.split()))
    return out


def check_report(run, visit, spec):
    r, role, page, gw = run.results, visit.role, visit.page, run.gw
    label = f"{spec.name} as {role}"
    parts = urllib.parse.urlsplit(spec.url(run))
    name = parts.path.rsplit("/", 1)[1]
    purpose = urllib.parse.parse_qs(parts.query)["purpose"][0]
    start = time.monotonic()
    rows = gw.api_rows(role, name, purpose)
    r.timing(f"GET /v1/reports/{name}?purpose={purpose} (JSON API, {len(rows)} rows)", time.monotonic() - start)
    api = {row["pseudonym"] for row in rows}
    districts = {text(row["postcodeDistrict"]) for row in rows if row.get("postcodeDistrict") is not None}
    years = {text(row["schoolYearGroup"]) for row in rows if row.get("schoolYearGroup") is not None}

    with r.check(f"{label}: lists exactly the children of GET /v1/reports/{name} ({len(rows)}), #count agrees"):
        expect(rows, "the API lists no children: the sample data did not load?")
        count = page.locator("#count").text_content().strip()
        shown = all_pages(visit)
        bad = [p for p in shown if not PSEUDONYM.match(p)]
        expect(not bad, f"first column is not a pseudonym (ps_ + 32 hex) in {len(bad)} rows, e.g. {bad[:3]}")
        expect(len(shown) == len(set(shown)), f"{len(shown) - len(set(shown))} children are listed twice")
        expect(set(shown) == api, f"page {len(set(shown))} children, API {len(api)}; missing {sorted(api - set(shown))[:3]}, extra {sorted(set(shown) - api)[:3]}")
        expect(count == str(len(rows)), f"#count says {count!r}, the API lists {len(rows)}")

    with r.check(f"{label}: charts have one bar per district ({len(districts)}) and per year group ({len(years)})"):
        for chart, expected in (("chart-district", districts), ("chart-year", years)):
            got = bars(page, chart)
            expect(page.locator(f"svg#{chart}").count() == 1, f"no <svg id=\"{chart}\">")
            expect(len(got) == len(expected), f"#{chart} has {len(got)} bars, the rows have {len(expected)} distinct values {sorted(expected, key=order_key)}")

    with r.check(f"{label}: each bar names its category and count (suppressed ones as <N)"):
        for chart, key in (("chart-district", "postcodeDistrict"), ("chart-year", "schoolYearGroup")):
            counts = {}
            for row in rows:
                if row.get(key) is not None:
                    counts[text(row[key])] = counts.get(text(row[key]), 0) + 1
            got = bars(page, chart)
            expect({b[0] for b in got} == set(counts), f"#{chart} bars are labelled {[b[0] for b in got]}, expected {sorted(counts, key=order_key)}")
            for bar_label, shown, suppressed in got:
                n = counts[bar_label]
                if suppressed:
                    m = re.fullmatch(r"<(\d+)", shown)
                    expect(m and n < int(m.group(1)), f"#{chart} bar {bar_label} is suppressed as {shown!r} but {n} children have it")
                else:
                    expect(shown == str(n), f"#{chart} bar {bar_label} says {shown!r}, {n} children have it")

    # Filtering: the district with most children (ties: the first by name).
    district = min(districts, key=lambda d: (-sum(1 for row in rows if text(row.get("postcodeDistrict")) == d), d)) if districts else None
    want = {row["pseudonym"] for row in rows if district and text(row.get("postcodeDistrict")) == district}
    with r.check(f"{label}: filter district={district} (select + submit) shows that district's {len(want)} children only"):
        expect(district, "no district to filter by")
        for selector in ("#filters select[name=district]", "#filters button[type=submit]"):
            expect(page.locator(selector).count() == 1, f"no {selector} on the page")
        page.select_option("#filters select[name=district]", district)
        with page.expect_navigation(wait_until="load"):
            page.click("#filters button[type=submit]")
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query)
        expect(query.get("district") == [district] and query.get("purpose") == [purpose], f"the form went to {page.url}")
        expect(page.input_value("#filters select[name=district]") == district, "the district select does not show the chosen district")
        col = column_index(page, "postcodeDistrict")
        others = sorted(set(column_values(page, col)) - {district})
        expect(not others, f"rows of other districts shown: {others}")
        shown = set(page.locator("#report tbody tr.row td:first-child").all_text_contents())
        expect(shown == want, f"page {len(shown)} children, API rows with district {district}: {len(want)}")
        count = page.locator("#count").text_content().strip()
        expect(count == str(len(want)), f"#count says {count!r}, expected {len(want)}")
        expect(len(bars(page, "chart-district")) == 1, f"the district chart has {len(bars(page, 'chart-district'))} bars after filtering, expected 1")

    with r.check(f"{label}: a#csv downloads the filtered rows (header + {len(want)} lines) as text/csv with the security headers"):
        expect(district, "no district to filter by")
        # On the filtered page (opened directly, so that this check does not depend on the form's).
        response, _ = visit.goto(f"{spec.url(run)}&district={urllib.parse.quote(district)}")
        expect(response.status == 200, f"the filtered page answered {response.status}")
        expect(page.locator("a#csv").count() == 1, "no a#csv on the page")
        href = page.get_attribute("a#csv", "href")
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(href).query)
        expect(urllib.parse.urlsplit(href).path == f"/console/reports/{name}/csv", f"a#csv goes to {href}")
        expect(q.get("district") == [district] and q.get("purpose") == [purpose], f"a#csv does not carry the filters: {href}")
        with page.expect_download() as info:
            page.click("a#csv")
        with open(info.value.path(), newline="", encoding="utf-8") as f:
            content = f.read()
        table = list(csv.reader(io.StringIO(content)))
        expect(table and table[0] and table[0][0] == COLUMN_LABELS["pseudonym"], f"CSV header is {table[:1]}")
        expect(len(table) == len(want) + 1, f"CSV has {len(table)} lines, expected {len(want) + 1}")
        expect({line[0] for line in table[1:]} == want, "the CSV's pseudonyms are not the filtered rows")
        # The same link fetched over mTLS, for its headers (a download has no page to inspect).
        status, headers, _ = gw.get(role, href)
        expect(status == 200 and headers.get("content-type", "").startswith("text/csv"), f"CSV answered {status} {headers.get('content-type')!r}")
        problems = header_problems(headers)
        expect(not problems, "CSV response: " + "; ".join(problems))

    with r.check(f"{label}: clicking the year-group heading twice sorts every page descending, aria-sort says so"):
        response, _ = visit.goto(spec.url(run))
        expect(response.status == 200, f"reload answered {response.status}")
        col = column_index(page, "schoolYearGroup")
        link = page.locator(f"#report thead th a.sort[data-column='{col}']")
        th = page.locator("#report thead th").nth(col)
        with page.expect_navigation(wait_until="load"):
            link.click()
        values = column_values(page, col)
        expect(th.get_attribute("aria-sort") == "ascending", f"after one click aria-sort is {th.get_attribute('aria-sort')!r}")
        expect(values == sorted(values, key=order_key), f"after one click not ascending: {values[:12]}...")
        with page.expect_navigation(wait_until="load"):
            link.click()
        values = column_values(page, col)
        expect(th.get_attribute("aria-sort") == "descending", f"after two clicks aria-sort is {th.get_attribute('aria-sort')!r}")
        expect(values == sorted(values, key=order_key, reverse=True), f"after two clicks not descending: {values[:12]}...")
        others = [a for i, a in enumerate(page.locator("#report thead th").evaluate_all("ths => ths.map(t => t.getAttribute('aria-sort'))")) if i != col]
        expect(all(a in (None, "none") for a in others), f"other headings' aria-sort: {others}")
        expect(set(all_pages(visit)) == api, "sorting lost or added rows")

    with r.check(f"{label}: 25 a page: Next walks every page, each child on exactly one, sorted across pages"):
        response, _ = visit.goto(f"{spec.url(run)}&sort=schoolYearGroup&size=25")
        expect(response.status == 200, f"the paged report answered {response.status}")
        pages = 0
        listed, years = [], []
        col = column_index(page, "schoolYearGroup")
        while True:
            pages += 1
            shown = page.locator("#report tbody tr.row td:first-child").all_text_contents()
            expect(len(shown) <= 25, f"page {pages} has {len(shown)} rows")
            listed += shown
            years += column_values(page, col)
            nxt = page.locator("nav#pager a[rel=next]")
            if nxt.count() == 0 or pages > 1000:
                break
            with page.expect_navigation(wait_until="load"):
                nxt.click()
        expect(pages == (len(rows) + 24) // 25, f"{pages} pages for {len(rows)} rows at 25 a page")
        expect(len(listed) == len(set(listed)) and set(listed) == api, f"the pages list {len(listed)} rows ({len(set(listed))} children), the API {len(api)}")
        expect(years == sorted(years, key=order_key), "the year groups are not ascending across the pages")
        current = page.locator("nav#pager a[aria-current=page]").all_text_contents()
        expect(current == [str(pages)], f"the last page's pager marks {current} as current")

    with r.check(f"{label}: keyboard only: Tab reaches the filter form, then the table; Enter on a sort link sorts, focus stays on it"):
        response, _ = visit.goto(spec.url(run))
        col = column_index(page, "schoolYearGroup")
        path = []
        for _ in range(300):
            page.keyboard.press("Tab")
            el = page.evaluate("""() => { const e = document.activeElement; return e ? {tag: e.tagName.toLowerCase(),
                name: e.getAttribute('name') || e.id || (e.textContent || '').trim().slice(0, 30),
                form: !!e.closest('#filters'), table: !!e.closest('#report'), column: e.getAttribute('data-column')} : null; }""")
            if el is None or el["tag"] == "body":
                break
            path.append(el)
            if el["table"] and el["column"] == str(col):
                break
        where = " > ".join(f"{e['tag']}[{e['name']}]" for e in path)
        first_form = next((i for i, e in enumerate(path) if e["form"]), None)
        first_table = next((i for i, e in enumerate(path) if e["table"]), None)
        expect(first_form is not None, f"Tab never reached the filter form: {where}")
        expect({e["name"] for e in path if e["form"] and e["tag"] == "select"} >= {"district", "year", "status"},
               f"Tab did not reach every filter select: {where}")
        expect(first_table is not None, f"Tab never reached the table: {where}")
        expect(first_form < first_table, f"Tab reaches the table before the filters: {where}")
        expect(path[-1]["table"] and path[-1]["column"] == str(col), f"Tab never reached the year-group sort link: {where}")
        outline = page.evaluate("() => { const s = getComputedStyle(document.activeElement); return [s.outlineStyle, s.outlineWidth]; }")
        expect(outline[0] != "none" and outline[1] != "0px", f"the focused sort link shows no focus outline ({outline})")
        th = page.locator("#report thead th").nth(col)
        for order, reverse in (("ascending", False), ("descending", True)):
            with page.expect_navigation(wait_until="load"):
                page.keyboard.press("Enter")
            page.wait_for_function(f"() => document.activeElement && document.activeElement.getAttribute('data-column') === '{col}'", timeout=5000)
            values = column_values(page, col)
            expect(th.get_attribute("aria-sort") == order, f"Enter left aria-sort {th.get_attribute('aria-sort')!r}, expected {order}")
            expect(values == sorted(values, key=order_key, reverse=reverse), f"Enter did not sort {order}: {values[:12]}...")
        print(f"INFO  {label}: {len(path)} Tab presses from the top of the page to the year-group sort link", flush=True)


def all_pages(visit):
    """The first column of every row of the report shown, following the pager's Next links from the
    current page; the page it started on is open again afterwards."""
    page, out, start, moved = visit.page, [], visit.page.url, False
    for _ in range(1000):
        out += page.locator("#report tbody tr.row td:first-child").all_text_contents()
        nxt = page.get_attribute("nav#pager a[rel=next]", "href") if page.locator("nav#pager a[rel=next]").count() else None
        if not nxt:
            break
        visit.goto(nxt)
        moved = True
    if moved:
        page.goto(start, wait_until="load")
    return out


# ----------------------------------------------------------------------------------------------
# User flows: a person doing a task through the pages, one page leading to the next. Each step is
# a check; a later step that needs an earlier one (the enquiry an agency acknowledges is the one a
# partner asked) fails saying so when the earlier one did not get there.

def cells(scope, selector):
    """The text of each cell of each row that selector matches in scope (a page or a locator): [[cell, ...], ...]."""
    return scope.locator(selector).evaluate_all("rows => rows.map(r => [...r.cells].map(c => c.textContent.trim()))")


def columns(page, table):
    """A table's column headings -> index."""
    return {h.strip(): i for i, h in enumerate(page.locator(f"{table} thead th").all_text_contents())}


def focused(page):
    """The element with the keyboard focus, described: tag, id, name, checked, text and its focus outline."""
    return page.evaluate("""() => { const e = document.activeElement; if (!e) { return null; } const s = getComputedStyle(e);
        return {tag: e.tagName.toLowerCase(), id: e.id, name: e.getAttribute('name') || '', checked: !!e.checked,
                text: (e.textContent || '').trim().slice(0, 40), outline: [s.outlineStyle, s.outlineWidth]}; }""")


def describe(el):
    return f"{el['tag']}#{el['id']}" if el["id"] else f"{el['tag']}[{el['name'] or el['text']}]"


def has_outline(el):
    return el["outline"][0] != "none" and el["outline"][1] != "0px"


def tab_until(page, wanted, limit=80):
    """Presses Tab until the focused element satisfies wanted(el); returns the elements passed (the last the one wanted)."""
    path = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        el = focused(page)
        if el is None or el["tag"] == "body":
            break
        path.append(el)
        if wanted(el):
            return path
    raise CheckFailed(f"Tab never reached it: {' > '.join(describe(e) for e in path)}")


def submitted(page, response, what):
    """The page a form's post led to (after the redirect) must be a page, not a refusal."""
    expect(response is not None, f"{what}: no response")
    if response.status != 200:
        message = " ".join(t.strip() for t in page.locator("main#main p").all_text_contents()[:1])
        sent = response.request.all_headers()  # what the gateway's same-site check looked at
        raise CheckFailed(f"{what} answered {response.status} at {urllib.parse.urlsplit(page.url).path}: "
                          f"{page.locator('h1').all_text_contents()} {message!r} (the browser sent {response.request.method} with "
                          f"Origin: {sent.get('origin')}, Sec-Fetch-Site: {sent.get('sec-fetch-site')})")


def query_of(page):
    return urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query)


def sample_nhs_numbers():
    """Every NHS number in the sample data (10 digits, or 3-3-4 with spaces), as digits."""
    found = set()
    for folder, _, files in os.walk(DATA):
        for name in files:
            if name.endswith((".csv", ".ndjson")):
                with open(os.path.join(folder, name), encoding="utf-8") as f:
                    found.update(re.sub(r"\s", "", n) for n in re.findall(r"(?<!\d)\d{3} ?\d{3} ?\d{4}(?!\d)", f.read()))
    return found


def nhs_numbers_on(html, sample):
    return sorted({re.sub(r"\s", "", n) for n in re.findall(r"(?<!\d)\d{3} ?\d{3} ?\d{4}(?!\d)", html)} & sample)


def identifiers_on(html, ids):
    """Which of a record's identifiers the page shows, in any of the forms agencies write them."""
    shown = []
    for key, value in sorted(ids.items()):
        if not isinstance(value, str) or not value.strip():
            continue
        forms = {value}
        if key == "nhsNumber":
            forms.add(f"{value[:3]} {value[3:6]} {value[6:]}")
        if key == "dateOfBirth" and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            y, m, d = value.split("-")
            forms.add(f"{d}/{m}/{y}")
        if key == "postcode":
            forms.add(value.replace(" ", ""))
        if any(re.search(rf"(?<![\w]){re.escape(f)}(?![\w])", html, re.IGNORECASE) for f in forms):
            shown.append(f"{key} {value!r}")
    return shown


def child_page_problems(page, pseudonym, view):
    """What is wrong with a child's page against the API's view of the child (GET /v1/subjects or /v1/match)."""
    problems = []
    h1 = page.locator("h1").all_text_contents()
    if page.locator("h1 code").all_text_contents() != [pseudonym]:
        problems.append(f"the h1 {h1} does not name {pseudonym}")
    for table, key in (("#known-to", "knownTo"), ("#records", "records")):
        if page.locator(f"table{table}").count() != 1:
            problems.append(f"no table{table}")
            continue
        rows = page.locator(f"table{table} tbody tr").count()
        if rows != len(view[key]) or rows == 0:
            problems.append(f"{table} has {rows} rows, the API's view {len(view[key])} {key}")
    return problems


def a_gp_registered_child(run):
    """The first child of the sample's GP registrations (in the file's order) that partner-304-cme
    matches by NHS number alone and that another agency knows too: (the record, the match's answer)."""
    with open(os.path.join(DATA, "nhs", "gp-registrations.ndjson"), encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip()]
    tried = []
    for record in records:
        nhs = record.get("identifiers", {}).get("nhsNumber")
        if not nhs or record.get("fields", {}).get("deregisteredOn"):
            continue
        if len(tried) == 8:  # the match rate limit allows a burst of 20
            break
        status, _, body = run.gw.post("partner-304-cme", "/v1/match", {"purpose": "cme", "identifiers": {"nhsNumber": nhs}})
        tried.append(f"{record['localRef']} {status}")
        if status == 200:
            answer = json.loads(body)
            roles = {k["role"] for k in answer["view"]["knownTo"]}
            if "nhs" in roles and len(roles) > 1:
                return record, answer
    raise CheckFailed(f"no GP-registered child of LA 304 also known to another agency among the first matched: {tried}")


# The steward's review queue

def check_review(run, visit, spec):
    """The steward decides the first pair with the keyboard only; the auditor then finds the decision in the log."""
    r, page, gw = run.results, visit.page, run.gw
    label = f"{spec.name} as {visit.role}"
    shown = [int(i.removeprefix("pair-")) for i in page.eval_on_selector_all("section.pair", "ss => ss.map(s => s.id)")]
    with r.check(f"{label}: lists the pending pairs of GET /v1/review, #count agrees, each with its form.decide"):
        status, _, body = gw.get(visit.role, "/v1/review")
        expect(status == 200, f"GET /v1/review answered {status}: {body[:200]!r}")
        api = sorted(p["id"] for p in json.loads(body)["pairs"])
        expect(api, "no pair waits for review: the sample data did not load?")
        expect(sorted(shown) == api, f"the page lists pairs {sorted(shown)}, the API {api}")
        count = page.locator("#count").text_content().strip()
        expect(count == str(len(shown)), f"#count says {count!r}, {len(shown)} pairs are listed")
        for n in shown:
            form = page.locator(f"section#pair-{n} form.decide")
            expect(form.count() == 1 and form.get_attribute("method") == "post" and form.get_attribute("action") == f"/console/review/{n}",
                   f"pair {n} has no form.decide posting to /console/review/{n}")
            radios = form.locator("input[type=radio][name=decision]").evaluate_all("rs => rs.map(r => r.value)")
            expect(radios == ["same", "different"], f"pair {n}'s decision radios have values {radios}")
            for value, wanted in (("same", "Same child: merge"), ("different", "Different children: keep apart")):
                labels = page.locator(f"label[for={value}-{n}]").all_text_contents()
                expect(labels == [wanted], f"pair {n}'s {value} radio is labelled {labels}, expected [{wanted!r}]")
            expect(form.locator("textarea[name=note]").count() == 1 and form.locator("input[type=hidden][name=token]").count() == 1,
                   f"pair {n}'s form lacks the note or the token")
            buttons = [b.strip() for b in form.locator("button[type=submit]").all_text_contents()]
            expect(buttons == [f"Record decision on pair {n}"], f"pair {n}'s submit button reads {buttons}")

    first = shown[0] if shown else None
    note = "Console test: checked both schools' records; different children."
    with r.check(f"{label}: keyboard only: Tab to pair {first}, an arrow key to \"Different children: keep apart\", "
                 f"a note, Enter: /console/review?decided={first} says it was recorded, the pair is gone, #count one less"):
        expect(first is not None, "no pair to decide")
        visit.goto(spec.url(run))  # from the top of the page, nothing focused
        path = tab_until(page, lambda el: el["id"] in (f"same-{first}", f"different-{first}"))
        print(f"INFO  {label}: {len(path)} Tab presses to pair {first}'s decision: {' > '.join(describe(e) for e in path)}", flush=True)
        # A radio group is one Tab stop: Tab lands on its first radio, the arrow keys move the choice.
        page.keyboard.press("ArrowRight")
        el = focused(page)
        expect(el["id"] == f"different-{first}" and el["checked"], f"after the arrow key the focus is on {describe(el)} (checked: {el['checked']})")
        expect(not page.is_checked(f"#same-{first}"), "\"Same child: merge\" is still checked")
        expect(has_outline(el), f"the focused radio shows no focus outline ({el['outline']})")
        page.keyboard.press("Tab")
        el = focused(page)
        expect(el["id"] == f"note-{first}", f"Tab after the radios went to {describe(el)}, not pair {first}'s note")
        page.keyboard.type(note)
        page.keyboard.press("Tab")
        el = focused(page)
        expect(el["tag"] == "button" and el["text"] == f"Record decision on pair {first}", f"Tab after the note went to {describe(el)}")
        expect(has_outline(el), f"the focused submit button shows no focus outline ({el['outline']})")
        with page.expect_navigation(wait_until="load") as navigation:
            page.keyboard.press("Enter")
        submitted(page, navigation.value, f"the decision on pair {first}")
        expect(urllib.parse.urlsplit(page.url).path == "/console/review" and query_of(page) == {"decided": [str(first)]},
               f"the decision led to {page.url}")
        decided = page.locator("#decided").all_text_contents()
        expect([d.strip() for d in decided] == [f"Your decision on pair {first} was recorded."], f"#decided reads {decided}")
        expect(page.locator(f"section#pair-{first}").count() == 0, f"pair {first} is still listed")
        count = page.locator("#count").text_content().strip()
        expect(count == str(len(shown) - 1), f"#count says {count!r} after the decision, expected {len(shown) - 1}")
        run.decided = first
    if run.decided is not None:
        check_axe(run, visit, f"{label} (after the decision)")

    auditor = Visit(run, "auditor-dpo")
    alabel = "audit log as auditor-dpo, filtered by action=review.decide"
    try:
        with r.check(f"{alabel}: #audit has the steward's decision (actor steward/304, rule steward-review:different)"):
            expect(run.decided is not None, "no decision was recorded (the steward's check above failed)")
            response, _ = auditor.goto("/console/audit?action=review.decide")
            expect(response.status == 200, f"the filtered audit page answered {response.status}")
            expect(auditor.page.input_value("#filter-action") == "review.decide", "the action filter does not show review.decide")
            col = columns(auditor.page, "#audit")
            rows = cells(auditor.page, "#audit tbody tr.entry")
            others = sorted({row[col["Action"]] for row in rows} - {"review.decide"})
            expect(not others, f"the filter shows other actions too: {others}")
            mine = [row for row in rows if row[col["Actor"]] == "steward/304" and row[col["Rule"]] == "steward-review:different"]
            expect(len(mine) == 1, f"{len(mine)} review.decide rows of steward/304 with rule steward-review:different; rows: {rows}")
            expect(mine[0][col["Decision"]] == "allow", f"the decision's entry has decision {mine[0][col['Decision']]!r}")
        if auditor.requests:
            check_stays_on_gateway(run, auditor, alabel)
    finally:
        auditor.close()


# The partner's child page, enquiries, and an agency's inbox

def check_child(run, visit, spec):
    """The partner goes from the report to a child's page, and asks the agencies that hold the child's records."""
    r, page, gw = run.results, visit.page, run.gw
    label = f"{spec.name} as {visit.role}"
    sample = sample_nhs_numbers()
    with r.check(f"{label}: the report's first pseudonym opens the child's page: h1 names the child, #known-to and #records "
                 f"as GET /v1/subjects, no NHS number of the sample data"):
        response, _ = visit.goto("/console/reports/missing-education?purpose=cme")
        expect(response.status == 200, f"the report answered {response.status}")
        link = page.locator("#report tbody tr.row").first.locator("td:first-child a")
        expect(link.count() == 1, "the first row's pseudonym is not a link")
        ps = link.text_content().strip()
        with page.expect_navigation(wait_until="load") as navigation:
            link.click()
        expect(navigation.value.status == 200, f"the child's page answered {navigation.value.status}")
        parts = urllib.parse.urlsplit(page.url)
        expect(parts.path == f"/console/subjects/{ps}" and query_of(page) == {"purpose": ["cme"]}, f"the link went to {page.url}")
        status, _, body = gw.get(visit.role, f"/v1/subjects/{ps}?purpose=cme")
        expect(status == 200, f"GET /v1/subjects/{ps}?purpose=cme answered {status}: {body[:200]!r}")
        problems = child_page_problems(page, ps, json.loads(body))
        expect(not problems, "; ".join(problems))
        leaked = nhs_numbers_on(page.content(), sample)
        expect(not leaked, f"the page shows NHS numbers of the sample data: {leaked}")

    child = None
    with r.check(f"{label}: a GP-registered child's page (its pseudonym from POST /v1/match on its NHS number) "
                 f"shows none of its identifiers (NHS number, names, date of birth, postcode, address)"):
        record, answer = a_gp_registered_child(run)
        ps = answer["pseudonym"]
        expect(PSEUDONYM.match(ps), f"POST /v1/match answered the pseudonym {ps!r}")
        response, _ = visit.goto(f"/console/subjects/{ps}?purpose=cme")
        expect(response.status == 200, f"the page of {ps} answered {response.status}")
        problems = child_page_problems(page, ps, answer["view"])
        expect(not problems, "; ".join(problems))
        shown = identifiers_on(page.content(), record["identifiers"])
        expect(not shown, f"the page of {record['localRef']}'s child shows its {', '.join(shown)}")
        child = (record, ps)
        print(f"INFO  {label}: asking about {ps}, GP record {record['localRef']} (known to "
              f"{', '.join(sorted({k['role'] for k in answer['view']['knownTo']}))})", flush=True)

    # Characters the page must escape and the form must encode, in the question.
    question = "Is this child still registered with you, & seen since 1 September? <console test, 'quoted'>"
    with r.check(f"{label}: form#ask sends an enquiry: back on the child's page, #asked says it went to N >= 1 agencies"):
        expect(child, "no child's page to ask from (the check above failed)")
        record, ps = child
        expect(page.locator("form#ask textarea#question").count() == 1, "no form#ask with a textarea#question")
        page.fill("form#ask #question", question)
        with page.expect_navigation(wait_until="load") as navigation:
            page.click("form#ask button[type=submit]")
        submitted(page, navigation.value, "the enquiry")
        expect(urllib.parse.urlsplit(page.url).path == f"/console/subjects/{ps}", f"the enquiry led to {page.url}")
        asked = " ".join(page.locator("#asked").all_text_contents()).strip()
        m = re.match(r"Your enquiry went to (\d+) agenc", asked)
        expect(m, f"#asked reads {asked!r}")
        holders = int(m.group(1))
        expect(holders >= 1, f"#asked says the enquiry went to {holders} agencies")
        expect(query_of(page).get("asked") == [str(holders)] and query_of(page).get("purpose") == ["cme"], f"the enquiry led to {page.url}")
        run.enquiry = {"question": question, "pseudonym": ps, "holders": holders, "reference": record["localRef"]}
    if run.enquiry:
        check_axe(run, visit, f"{label} (after asking)")


def check_enquiries(run, visit, spec):
    r, page = run.results, visit.page
    label = f"{spec.name} as {visit.role}"
    with r.check(f"{label}: lists the enquiry asked from the child's page (a section.enquiry headed by the question, "
                 f"its child, the agencies asked)"):
        e = run.enquiry
        expect(e, "no enquiry was asked (the child page's check failed)")
        headings = [h.strip() for h in page.locator("section.enquiry h2").all_text_contents()]
        expect(headings.count(e["question"]) == 1, f"{headings.count(e['question'])} section.enquiry headed by the question; headings {headings}")
        section = page.locator("section.enquiry").nth(headings.index(e["question"]))
        links = section.locator("a[href^='/console/subjects/']").evaluate_all("as => as.map(a => a.getAttribute('href'))")
        expect(links == [f"/console/subjects/{e['pseudonym']}?purpose=cme"], f"the enquiry links to {links}")
        holders = cells(section, "table.holders tbody tr")
        expect(len(holders) == e["holders"], f"{len(holders)} agencies listed, #asked said {e['holders']}")
        expect("nhs/Y12345" in [h[0] for h in holders], f"nhs/Y12345 (whose GP record it is) is not among {[h[0] for h in holders]}")


def check_inbox(run, visit, spec):
    """The GP practice finds the partner's enquiry about its own record, and acknowledges its inbox."""
    r, page = run.results, visit.page
    label = f"{spec.name} as {visit.role}"
    waiting = False
    with r.check(f"{label}: the partner's enquiry waits: a tr.item of type enquiry about \"your reference ...\" (the GP record's), with the question and the rule that sent it"):
        e = run.enquiry
        expect(e, "no enquiry was asked (the child page's check failed)")
        col = columns(page, "#inbox")
        rows = cells(page, "#inbox tbody tr.item")
        mine = [row for row in rows if row[col["Type"]] == "enquiry" and e["question"] in row[col["Details"]]]
        expect(len(mine) == 1, f"{len(mine)} enquiry rows with the question among {len(rows)}: {rows[:5]}")
        expect(mine[0][col["About"]] == f"your reference {e['reference']}", f"the enquiry is about {mine[0][col['About']]!r}, expected \"your reference {e['reference']}\"")
        expect(mine[0][col["Purpose"]] == "cme", f"the enquiry's purpose is {mine[0][col['Purpose']]!r}")
        expect(mine[0][col["Rule"]] == "purpose:cme:enquiries", f"the enquiry's rule is {mine[0][col['Rule']]!r}, expected purpose:cme:enquiries")
        count = page.locator("#count").text_content().strip()
        expect(count == str(len(rows)), f"#count says {count!r}, {len(rows)} rows are listed")
        waiting = True
    acked = False
    with r.check(f"{label}: submitting form#ack acknowledges what is listed: #acked, then #empty and no row, also on a reload"):
        expect(waiting, "nothing to acknowledge: the enquiry is not in the inbox (the check above failed)")
        expect(page.locator("form#ack").count() == 1, f"no form#ack ({page.locator('#inbox tbody tr.item').count()} rows listed)")
        up_to = page.input_value("form#ack input[name=upTo]")
        with page.expect_navigation(wait_until="load") as navigation:
            page.click("form#ack button[type=submit]")
        submitted(page, navigation.value, "the acknowledgement")
        expect(urllib.parse.urlsplit(page.url).path == "/console/inbox" and query_of(page) == {"acked": [up_to]}, f"the acknowledgement led to {page.url}")
        notice = " ".join(page.locator("#acked").all_text_contents()).strip()
        expect(notice.startswith(f"Acknowledged up to {up_to}"), f"#acked reads {notice!r}")
        for _ in range(2):
            expect(page.locator("#empty").count() == 1, "no #empty")
            expect(page.locator("#inbox tbody tr.item").count() == 0, f"{page.locator('#inbox tbody tr.item').count()} rows still listed")
            visit.goto(spec.url(run))
        acked = True
    if acked:
        check_axe(run, visit, f"{label} (after acknowledging)")


# The auditor's log

def check_audit(run, visit, spec):
    """The auditor checks an entry's inclusion proof in the page, and has the gateway verify the whole log."""
    r, page, gw = run.results, visit.page, run.gw
    label = f"{spec.name} as {visit.role}"
    size = None
    with r.check(f"{label}: after GET /v1/audit/checkpoint, every entry the checkpoint covers has its \"Check entry N\", no other"):
        status, _, body = gw.get(visit.role, "/v1/audit/checkpoint?format=json")
        expect(status == 200, f"GET /v1/audit/checkpoint answered {status}: {body[:200]!r}")
        signed = json.loads(body)["size"]
        response, seconds = visit.goto(spec.url(run))
        r.timing(f"{label} page load (after a checkpoint of {signed})", seconds, visit.navigation_timing())
        expect(response.status == 200, f"the audit page answered {response.status}")
        size = int(page.locator("#checkpoint-size").text_content())
        expect(size >= signed, f"#checkpoint-size says {size}, the checkpoint just signed has {signed}")
        rows = page.eval_on_selector_all("#audit tbody tr.entry", """rows => rows.map(r => ({index: Number(r.cells[0].textContent),
            inclusion: r.cells[r.cells.length - 1].textContent.trim(),
            buttons: [...r.querySelectorAll('button.prove')].map(b => [b.textContent.trim(), b.dataset.index, b.dataset.size])}))""")
        covered = [row for row in rows if row["index"] < size]
        expect(covered, f"no entry shown is covered by the checkpoint of size {size} (entries {rows[0]['index'] if rows else '-'} on)")
        for row in rows:
            n = row["index"]
            if n < size:
                expect(row["buttons"] == [[f"Check entry {n}", str(n), str(size)]], f"entry {n} (covered) has buttons {row['buttons']}")
            else:
                expect(not row["buttons"] and "after the checkpoint" in row["inclusion"], f"entry {n} (after the checkpoint) reads {row['inclusion']!r}")

    def prove(button):
        n = button.get_attribute("data-index")
        button.click()
        page.wait_for_function("id => { const e = document.getElementById(id); return e && e.textContent && e.textContent !== 'checking...'; }",
                               arg=f"proof-{n}")
        out = page.locator(f"#proof-{n}")
        return n, out.text_content().strip(), set((out.get_attribute("class") or "").split())

    with r.check(f"{label}: \"Check entry N\" checks the proof in the browser: #proof-N reads \"included in the checkpoint of size M\" (class proof ok)"):
        expect(size, "no checkpoint to check against (the check above failed)")
        n, said, classes = prove(page.locator("#audit button.prove").first)
        expect(said == f"included in the checkpoint of size {size}", f"#proof-{n} reads {said!r}")
        expect(classes == {"proof", "ok"}, f"#proof-{n} has classes {sorted(classes)}")
    page.evaluate("() => window.scrollTo(0, 0)")
    save_screenshot(run, visit, label, "audit.png")

    with r.check(f"{label}: the check can fail: a proof altered in transit (one hash of its path changed) reads \"NOT verified\" (class proof bad)"):
        buttons = page.locator("#audit button.prove")
        expect(buttons.count() >= 2, "fewer than two entries to check")

        def altered(route):
            proof = route.fetch().json()
            if proof.get("proof"):  # (without a path the proof stays as it is, and the check fails)
                proof["proof"][0] = proof["proof"][0][:-1] + ("0" if proof["proof"][0][-1] != "0" else "1")
            route.fulfill(json=proof)
        page.route("**/v1/audit/proofs/inclusion*", altered)
        try:
            n, said, classes = prove(buttons.nth(1))
        finally:
            page.unroute("**/v1/audit/proofs/inclusion*")
        expect(said == "NOT verified" and classes == {"proof", "bad"}, f"with an altered proof #proof-{n} reads {said!r} (classes {sorted(classes)})")
    check_axe(run, visit, f"{label} (after checking proofs)")

    with r.check(f"{label}: \"Verify the whole log now\" (the form in #verification), then reloads until #verification-status reads Verified (class verified)"):
        form = page.locator("#verification form")
        expect(form.count() == 1, "no form in #verification")
        button = [b.strip() for b in form.locator("button[type=submit]").all_text_contents()]
        expect(button == ["Verify the whole log now"], f"the verification form's button reads {button}")
        start = time.monotonic()
        with page.expect_navigation(wait_until="load") as navigation:
            form.locator("button[type=submit]").click()
        submitted(page, navigation.value, "the verification form")
        expect(urllib.parse.urlsplit(page.url).path == "/console/audit", f"the verification form led to {page.url}")
        while True:
            status = page.locator("#verification-status")
            said, classes = status.text_content().strip(), set((status.get_attribute("class") or "").split())
            if said.startswith("Verified"):
                break
            if said.startswith("FAILED"):
                raise CheckFailed(f"the gateway's check of the log failed: {page.locator('#verification pre').text_content()[:600]}")
            expect(time.monotonic() - start < 120, f"#verification-status still reads {said!r} after 120 s")
            time.sleep(0.5)
            page.reload(wait_until="load")
        expect(classes == {"verified"}, f"#verification-status reads {said!r} with classes {sorted(classes)}")
        r.timing("the whole log verified from the console (form to Verified)", time.monotonic() - start)
    check_axe(run, visit, f"{label} (after verifying)")


# ----------------------------------------------------------------------------------------------
# The pages. Each gets the checks every page gets (opens, headers, assets, axe-core, requests stay
# on the gateway; refusal of the forbidden roles) and its own checks, if any.

def a_child_of_the_report(run):
    """The page of the first child on the cme missing-education report (a partner's own pseudonym)."""
    if not hasattr(run, "child"):
        run.child = run.gw.api_rows("partner-304-cme", "missing-education", "cme")[0]["pseudonym"]
    return f"/console/subjects/{run.child}?purpose=cme"


PAGES = [
    PageSpec("home", "/console/", allowed=ROLES, screenshot=("partner-304-cme", "home.png"), checks=check_home),
    PageSpec("missing-education report", "/console/reports/missing-education?purpose=cme", allowed=["partner-304-cme"],
             forbidden=["school-100001", "steward-304", "auditor-dpo"], screenshot=("partner-304-cme", "missing-education.png"),
             checks=check_report),
    # In this order: the enquiry asked on the child page is the one the enquiries page lists and the
    # GP practice's inbox shows; the audit log then holds the steward's decision.
    PageSpec("child page", a_child_of_the_report, allowed=["partner-304-cme"], forbidden=["school-100001", "steward-304"],
             checks=check_child),
    PageSpec("enquiries", "/console/enquiries", allowed=["partner-304-cme"], forbidden=["steward-304", "auditor-dpo"],
             checks=check_enquiries),
    PageSpec("inbox", "/console/inbox", allowed=["nhs-Y12345"], forbidden=["steward-304", "auditor-dpo"], checks=check_inbox),
    PageSpec("review queue", "/console/review", allowed=["steward-304"], forbidden=["partner-304-cme", "school-100001", "auditor-dpo"],
             screenshot=("steward-304", "review.png"), checks=check_review),
    # Its screenshot (audit.png) is taken by check_audit, once a proof check shows its result.
    PageSpec("audit log", "/console/audit", allowed=["auditor-dpo"], forbidden=["partner-304-cme", "school-100001", "steward-304"],
             checks=check_audit),
]


# ----------------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", default=os.path.join(ROOT, ".build", "debug"), help="directory of sightline-gateway and sightline")
    parser.add_argument("--chromium", default=os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--screenshots", default=HERE, help="where home.png, missing-education.png, review.png and audit.png go")
    parser.add_argument("--keep", action="store_true", help="keep the temporary state directory (its path is printed)")
    args = parser.parse_args()
    args.bin = os.path.abspath(args.bin)
    for exe in ("sightline-gateway", "sightline"):
        if not os.access(os.path.join(args.bin, exe), os.X_OK):
            print(f"SETUP: no {exe} in {args.bin} (build first: swift build)", file=sys.stderr)
            return 2
    if not os.access(args.chromium, os.X_OK):
        print(f"SETUP: no Chromium at {args.chromium} (apt-get install chromium, or --chromium PATH)", file=sys.stderr)
        return 2
    try:
        from playwright.sync_api import sync_playwright
        import axe_playwright_python  # noqa: F401
    except ImportError as e:
        print(f"SETUP: {e} (pip install playwright axe-playwright-python)", file=sys.stderr)
        return 2
    # SIGTERM (a CI timeout, say) unwinds like Ctrl-C, so the gateway and the directory go too.
    def terminated(signum, frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, terminated)

    results = Results()
    began = time.monotonic()
    state = tempfile.mkdtemp(prefix="sightline-console.")
    gw = Gateway(args.bin, state)
    run = None
    try:
        try:
            start = time.monotonic()
            gw.start()
            results.timing(f"gateway start ({gw.origin}, state {state})", time.monotonic() - start)
            start = time.monotonic()
            gw.submit_samples()
            results.timing(f"sample data submitted ({len(SUBMISSIONS)} files, as ops/demo.sh)", time.monotonic() - start)
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
            print(f"SETUP: {e}", file=sys.stderr)
            return 2
        with sync_playwright() as p:
            # Playwright's sandbox default is off (CI runs as root, where Chromium's sandbox cannot start).
            browser = p.chromium.launch(executable_path=args.chromium)
            print(f"Chromium {browser.version}, Playwright via {args.chromium}", flush=True)
            run = Run(args, gw, browser, results)
            try:
                for spec in PAGES:
                    for role in spec.allowed:
                        check_page(run, spec, role)
                    for role in spec.forbidden:
                        check_refused(run, spec, role)
            finally:
                run.close()
                browser.close()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if results.failed:
            print("\n-- gateway log (last lines)\n" + gw.log_tail(), flush=True)
        gw.stop()
        if args.keep:
            print(f"state kept in {state}")
        else:
            shutil.rmtree(state, ignore_errors=True)

    print(f"\n== {len(results.passed)} checks passed, {len(results.failed)} failed, {len(results.notes)} notes, "
          f"{time.monotonic() - began:.1f} s in all")
    loads = sorted((t for t in results.timings if "page load" in t[0]), key=lambda t: -t[1])
    for what, seconds, detail in loads[:5]:
        print(f"slowest: {what} {seconds:.2f} s{'  (' + detail + ')' if detail else ''}")
    # The two heaviest pages, each time they were opened with their timing: the report and the audit log.
    for what, seconds, detail in results.timings:
        if what.startswith(("missing-education report as", "audit log as")) and "page load" in what:
            print(f"timing: {what} {seconds:.2f} s{'  (' + detail + ')' if detail else ''}")
    for name, message in results.failed:
        print(f"FAILED: {name}\n        {message}")
    return 1 if results.failed else 0


if __name__ == "__main__":
    sys.exit(main())
