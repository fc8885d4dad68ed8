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
violation); the child, review-queue and audit-log pages get the common checks so far. It saves
screenshots of the first screen to ops/console/ (home.png, missing-education.png) and prints timings. Exit 0: every check passed; 1: some failed (each says why); 2: it could not set up.
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

    def get(self, role, path):
        """GET over mTLS as a participant: (status, headers as a lower-cased dict, body bytes)."""
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ssl_context(role), timeout=60)
        try:
            conn.request("GET", path, headers={"Accept": "application/json"})
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

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
            path = os.path.join(run.args.screenshots, spec.screenshot[1])
            # The first screen (1280 x 900), not the whole page: a report of hundreds of rows would be
            # a PNG of megabytes in the repository.
            with r.check(f"{label}: screenshot {os.path.relpath(path)}"):
                visit.page.screenshot(path=path, full_page=False)
                expect(os.path.getsize(path) > 1000, f"{path} is almost empty")
        if spec.checks:
            spec.checks(run, visit, spec)
        check_stays_on_gateway(run, visit, label)
    finally:
        visit.close()


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
                shown = set(page.locator("#report tbody tr.row td:first-child").all_text_contents())
                count = page.locator("#count").text_content().strip()
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
        shown = page.locator("#report tbody tr.row td:first-child").all_text_contents()
        bad = [p for p in shown if not PSEUDONYM.match(p)]
        expect(not bad, f"first column is not a pseudonym (ps_ + 32 hex) in {len(bad)} rows, e.g. {bad[:3]}")
        expect(len(shown) == len(set(shown)), f"{len(shown) - len(set(shown))} children are listed twice")
        expect(set(shown) == api, f"page {len(set(shown))} children, API {len(api)}; missing {sorted(api - set(shown))[:3]}, extra {sorted(set(shown) - api)[:3]}")
        count = page.locator("#count").text_content().strip()
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

    with r.check(f"{label}: clicking the year-group heading twice sorts descending, aria-sort says so"):
        response, _ = visit.goto(spec.url(run))
        expect(response.status == 200, f"reload answered {response.status}")
        col = column_index(page, "schoolYearGroup")
        button = page.locator(f"#report thead th button.sort[data-column='{col}']")
        th = page.locator("#report thead th").nth(col)
        button.click()
        values = column_values(page, col)
        expect(th.get_attribute("aria-sort") == "ascending", f"after one click aria-sort is {th.get_attribute('aria-sort')!r}")
        expect(values == sorted(values, key=order_key), f"after one click not ascending: {values[:12]}...")
        button.click()
        values = column_values(page, col)
        expect(th.get_attribute("aria-sort") == "descending", f"after two clicks aria-sort is {th.get_attribute('aria-sort')!r}")
        expect(values == sorted(values, key=order_key, reverse=True), f"after two clicks not descending: {values[:12]}...")
        others = [a for i, a in enumerate(page.locator("#report thead th").evaluate_all("ths => ths.map(t => t.getAttribute('aria-sort'))")) if i != col]
        expect(all(a in (None, "none") for a in others), f"other headings' aria-sort: {others}")
        expect(set(page.locator("#report tbody tr.row td:first-child").all_text_contents()) == api, "sorting lost or added rows")

    with r.check(f"{label}: keyboard only: Tab reaches the filter form, then the table; Enter on a sort button sorts"):
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
        expect(path[-1]["table"] and path[-1]["column"] == str(col), f"Tab never reached the year-group sort button: {where}")
        outline = page.evaluate("() => { const s = getComputedStyle(document.activeElement); return [s.outlineStyle, s.outlineWidth]; }")
        expect(outline[0] != "none" and outline[1] != "0px", f"the focused sort button shows no focus outline ({outline})")
        th = page.locator("#report thead th").nth(col)
        page.keyboard.press("Enter")
        values = column_values(page, col)
        expect(th.get_attribute("aria-sort") == "ascending", f"Enter left aria-sort {th.get_attribute('aria-sort')!r}")
        expect(values == sorted(values, key=order_key), f"Enter did not sort ascending: {values[:12]}...")
        page.keyboard.press("Enter")
        values = column_values(page, col)
        expect(th.get_attribute("aria-sort") == "descending", f"a second Enter left aria-sort {th.get_attribute('aria-sort')!r}")
        expect(values == sorted(values, key=order_key, reverse=True), f"a second Enter did not sort descending: {values[:12]}...")
        print(f"INFO  {label}: {len(path)} Tab presses from the top of the page to the year-group sort button", flush=True)


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
    # Newer pages, with the common checks only so far (their own: a check_... function as checks=).
    PageSpec("child page", a_child_of_the_report, allowed=["partner-304-cme"], forbidden=["school-100001", "steward-304"]),
    PageSpec("review queue", "/console/review", allowed=["steward-304"], forbidden=["partner-304-cme", "school-100001", "auditor-dpo"]),
    PageSpec("audit log", "/console/audit", allowed=["auditor-dpo"], forbidden=["partner-304-cme", "school-100001", "steward-304"]),
]


# ----------------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", default=os.path.join(ROOT, ".build", "debug"), help="directory of sightline-gateway and sightline")
    parser.add_argument("--chromium", default=os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--screenshots", default=HERE, help="where home.png and missing-education.png go")
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
    loads = sorted((t for t in results.timings if t[0].endswith("page load")), key=lambda t: -t[1])
    for what, seconds, detail in loads[:5]:
        print(f"slowest: {what} {seconds:.2f} s{'  (' + detail + ')' if detail else ''}")
    for name, message in results.failed:
        print(f"FAILED: {name}\n        {message}")
    return 1 if results.failed else 0


if __name__ == "__main__":
    sys.exit(main())
