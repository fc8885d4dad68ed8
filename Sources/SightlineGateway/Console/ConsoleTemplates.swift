import Mustache

/// The console's Mustache templates, compiled once. `{{value}}` escapes HTML (quotes included, so
/// a value is safe inside a double-quoted attribute); the templates never use `{{{ }}}`, so no
/// value, whoever chose it, is ever written unescaped. Kept in the binary so that an install is
/// one file; no page loads anything from outside the gateway.
enum ConsoleTemplates {
    static let layout = """
    <!DOCTYPE html>
    <html lang="en-GB">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>{{$title}}Sightline{{/title}} · Sightline</title>
    <link rel="stylesheet" href="/console/assets/console.css">
    <link rel="icon" href="/console/assets/favicon.svg" type="image/svg+xml">
    <script src="/console/assets/console.js" defer></script>
    </head>
    <body>
    <a class="skip" href="#main">Skip to content</a>
    <header>
    <p class="brand"><a href="/console/">Sightline</a></p>
    <p class="who">Signed in by certificate as <strong>{{who}}</strong> ({{role}})</p>
    <nav aria-label="Console">
    <ul>
    <li><a href="/console/">Home</a></li>
    {{#links}}<li><a href="{{href}}">{{label}}</a></li>{{/links}}
    </ul>
    </nav>
    </header>
    <main id="main">
    {{$content}}{{/content}}
    </main>
    <footer><p>Every page you open is recorded in the partnership's audit log.</p></footer>
    </body>
    </html>
    """

    static let home = """
    {{<layout}}
    {{$title}}Home{{/title}}
    {{$content}}
    <h1>Sightline console</h1>
    <p>What your role may see and do:</p>
    <ul class="cards">
    {{#links}}<li><a href="{{href}}">{{label}}</a>{{#note}}<br><span class="note">{{note}}</span>{{/note}}</li>{{/links}}
    </ul>
    {{^links}}<p>Nothing here is open to your role yet; use the API or the <code>sightline</code> tool.</p>{{/links}}
    {{/content}}
    {{/layout}}
    """

    static let report = """
    {{<layout}}
    {{$title}}{{heading}}{{/title}}
    {{$content}}
    <h1>{{heading}}</h1>
    <p class="meta">Purpose <strong>{{purpose}}</strong>, local authority {{la}}, generated {{generatedAt}}.
    <span id="count">{{shown}}</span> of {{total}} children shown{{#paging}}, <span id="range">{{from}}–{{to}}</span> on this page{{/paging}}.
    {{#paging}}Each page runs the report afresh: a record that arrives between two pages can move a child from one page to another.{{/paging}}</p>
    <form id="filters" method="get" action="">
    <input type="hidden" name="purpose" value="{{purpose}}">
    {{#sortHidden}}<input type="hidden" name="{{name}}" value="{{value}}">{{/sortHidden}}
    {{#filters}}
    <label for="filter-{{name}}">{{label}}</label>
    <select id="filter-{{name}}" name="{{name}}">
    {{^noAll}}<option value="">All</option>{{/noAll}}
    {{#options}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{value}}</option>{{/options}}
    </select>
    {{/filters}}
    <button type="submit">Filter</button>
    <a id="csv" href="{{csvHref}}">Download these {{shown}} rows as CSV</a>
    </form>
    {{#charts}}
    <figure class="chart">
    <figcaption id="{{id}}-caption">{{caption}}</figcaption>
    <svg id="{{id}}" role="img" aria-labelledby="{{id}}-caption" aria-describedby="{{id}}-data" width="{{width}}" height="{{height}}" viewBox="0 0 {{width}} {{height}}">
    {{#bars}}<g class="bar-group"><rect class="bar{{#suppressed}} suppressed{{/suppressed}}" x="{{x}}" y="{{y}}" width="{{barWidth}}" height="{{barHeight}}"><title>{{label}}: {{count}}</title></rect><text class="count" x="{{labelX}}" y="{{countY}}">{{count}}</text><text class="label" x="{{labelX}}" y="{{labelY}}">{{label}}</text></g>{{/bars}}
    </svg>
    <table id="{{id}}-data" class="visually-hidden"><caption>{{caption}}</caption><thead><tr><th scope="col">Category</th><th scope="col">Children</th></tr></thead>
    <tbody>{{#bars}}<tr><td>{{label}}</td><td>{{count}}</td></tr>{{/bars}}</tbody></table>
    {{#suppressBelow}}<p class="note">Counts under {{suppressBelow}} are shown as &lt;{{suppressBelow}}, with a bar of that height.</p>{{/suppressBelow}}
    </figure>
    {{/charts}}
    {{#pagingTop}}{{>pager}}{{/pagingTop}}
    <table id="report" tabindex="-1">
    <caption>{{heading}}: one row a child. Select a column heading to sort every page by it.</caption>
    <thead><tr>{{#columns}}<th scope="col" aria-sort="{{ariaSort}}" data-key="{{key}}"><a class="sort" id="sort-{{key}}" data-column="{{index}}" href="{{href}}">{{label}}</a></th>{{/columns}}</tr></thead>
    <tbody>
    {{#rows}}<tr class="row{{#uncertain}} uncertain{{/uncertain}}">{{#cells}}<td>{{#href}}<a href="{{href}}">{{value}}</a>{{/href}}{{^href}}{{value}}{{/href}}</td>{{/cells}}</tr>
    {{/rows}}
    </tbody>
    </table>
    {{^rows}}<p id="empty">No child matches these filters.</p>{{/rows}}
    {{#paging}}{{>pager}}{{/paging}}
    {{/content}}
    {{/layout}}
    """

    /// The report's pager, above and below the table (each its own landmark, told apart by position).
    static let pager = """
    <nav class="pager" id="{{#top}}pager-top{{/top}}{{^top}}pager{{/top}}" aria-label="Pages of this report, {{#top}}above{{/top}}{{^top}}below{{/top}} the table">
    <p>Page {{page}} of {{pages}}</p>
    <ul>
    {{#prev}}<li><a rel="prev" href="{{prev}}">Previous<span class="visually-hidden"> page</span></a></li>{{/prev}}
    {{#numbers}}{{#gap}}<li aria-hidden="true">…</li>{{/gap}}{{^gap}}<li>{{#current}}<a href="{{href}}" aria-current="page">{{number}}</a>{{/current}}{{^current}}<a href="{{href}}">{{number}}</a>{{/current}}</li>{{/gap}}{{/numbers}}
    {{#next}}<li><a rel="next" href="{{next}}">Next<span class="visually-hidden"> page</span></a></li>{{/next}}
    </ul>
    </nav>
    """

    static let subject = """
    {{<layout}}
    {{$title}}Child {{pseudonym}}{{/title}}
    {{$content}}
    <h1>Child <code>{{pseudonym}}</code></h1>
    {{#asked}}<p class="notice" role="status" id="asked">Your enquiry went to {{asked}} agency or agencies; their answers show in the report and under Enquiries.</p>{{/asked}}
    {{#awaiting}}<p class="notice" role="status" id="asked">Your enquiry to {{awaiting}} agencies waits for a second approval before it is sent (see Enquiries); it expires if nobody approves it in time.</p>{{/awaiting}}
    <p class="meta">As purpose <strong>{{purpose}}</strong> allows: only its fields, minimised.{{#uncertain}} <strong id="uncertain">The link is uncertain</strong>: a steward has a pair to decide, or identifiers disagree.{{/uncertain}}</p>
    <h2>What is known</h2>
    <dl id="attributes">{{#attributes}}<dt>{{name}}</dt><dd>{{value}}</dd>{{/attributes}}</dl>
    <table id="known-to"><caption>Known to</caption>
    <thead><tr><th scope="col">Kind</th><th scope="col">Agency role</th><th scope="col">Records</th><th scope="col">First seen</th><th scope="col">Last seen</th></tr></thead>
    <tbody>{{#knownTo}}<tr><td>{{kind}}</td><td>{{role}}</td><td>{{records}}</td><td>{{firstSeen}}</td><td>{{lastSeen}}</td></tr>{{/knownTo}}</tbody>
    </table>
    <table id="records"><caption>Records</caption>
    <thead><tr><th scope="col">Kind</th><th scope="col">Source</th><th scope="col">Observed</th><th scope="col">Linked by</th><th scope="col">Fields</th></tr></thead>
    <tbody>{{#records}}<tr><td>{{kind}}</td><td>{{source}}</td><td>{{observedAt}}</td><td>{{linkedBy}}</td><td>{{fields}}</td></tr>{{/records}}</tbody>
    </table>
    {{#canAsk}}
    <h2>Ask the agencies that hold this child's records</h2>
    <form method="post" action="/console/subjects/{{pseudonym}}/enquiries" id="ask">
    <input type="hidden" name="token" value="{{token}}">
    <input type="hidden" name="purpose" value="{{purpose}}">
    <label for="question">Your question (each agency sees it with its own record reference, not the others')</label>
    <textarea id="question" name="question" maxlength="2000" rows="3" required></textarea>
    <button type="submit">Send the enquiry</button>
    </form>
    {{/canAsk}}
    {{/content}}
    {{/layout}}
    """

    static let inbox = """
    {{<layout}}
    {{$title}}Inbox{{/title}}
    {{$content}}
    <h1>Inbox</h1>
    {{#acked}}<p class="notice" role="status" id="acked">Acknowledged up to {{acked}}: those forwards count as delivered.</p>{{/acked}}
    <p class="meta"><span id="count">{{count}}</span> forwards and enquiries not yet acknowledged, oldest first. Each names the child in your own terms
    (your reference, or the pseudonym you hold) and the purpose and rule that sent it.</p>
    <table id="inbox"><caption>Waiting for you</caption>
    <thead><tr><th scope="col">#</th><th scope="col">Type</th><th scope="col">Purpose</th><th scope="col">Rule</th><th scope="col">About</th><th scope="col">Created</th><th scope="col">Deadline</th><th scope="col">Details</th></tr></thead>
    <tbody>{{#items}}<tr class="item"><td>{{id}}</td><td>{{type}}</td><td>{{purpose}}</td><td>{{rule}}</td><td>{{about}}</td><td>{{created}}</td><td>{{deadline}}</td><td>{{details}}</td></tr>
    {{/items}}</tbody>
    </table>
    {{#upTo}}
    <form method="post" action="/console/inbox/ack" id="ack">
    <input type="hidden" name="token" value="{{token}}">
    <input type="hidden" name="upTo" value="{{upTo}}">
    <button type="submit">Acknowledge everything listed (up to #{{upTo}})</button>
    </form>
    {{/upTo}}
    {{^items}}<p id="empty">Nothing waits for you.</p>{{/items}}
    {{/content}}
    {{/layout}}
    """

    static let enquiries = """
    {{<layout}}
    {{$title}}Enquiries{{/title}}
    {{$content}}
    <h1>Enquiries</h1>
    {{#answeredNow}}<p class="notice" role="status" id="answered">Your answer was sent.</p>{{/answeredNow}}
    <p class="meta">{{#partner}}The enquiries you asked, each holder's delivery and answer. Ask one from a child's page.{{/partner}}{{^partner}}What partners asked you about children whose records you hold, by your own reference; each answer goes to the team that asked.{{/partner}}</p>
    {{#asked}}
    <section class="enquiry" id="{{id}}" aria-labelledby="{{id}}-h">
    <h2 id="{{id}}-h">{{question}}</h2>
    <p>About {{about}}, asked by {{askedBy}} for purpose {{purpose}} on {{askedAt}}; answer by {{deadline}}.</p>
    {{#answered}}<p class="notice" role="status">You answered: {{answered}}.</p>{{/answered}}
    {{^answered}}
    <form method="post" action="/console/enquiries/{{id}}/answers" class="answer">
    <input type="hidden" name="token" value="{{token}}">
    <label for="status-{{id}}">Your answer</label>
    <select id="status-{{id}}" name="status" required><option value="">Choose</option>{{#statuses}}<option value="{{.}}">{{.}}</option>{{/statuses}}</select>
    <label for="text-{{id}}">Details (needed for other and safeguarding-concern)</label>
    <textarea id="text-{{id}}" name="text" maxlength="2000" rows="2"></textarea>
    <button type="submit">Send the answer to {{askedBy}}</button>
    </form>
    {{/answered}}
    </section>
    {{/asked}}
    {{#enquiries}}
    <section class="enquiry" id="{{id}}" aria-labelledby="{{id}}-h">
    <h2 id="{{id}}-h">{{question}}</h2>
    <p>Child <a href="/console/subjects/{{pseudonym}}?purpose={{purpose}}"><code>{{pseudonym}}</code></a>, purpose {{purpose}}, asked {{askedAt}}, deadline {{deadline}}, {{state}}.</p>
    <table class="holders"><caption>Agencies asked</caption>
    <thead><tr><th scope="col">Agency</th><th scope="col">Delivery</th><th scope="col">Answer</th><th scope="col">Said</th><th scope="col">Answered</th></tr></thead>
    <tbody>{{#holders}}<tr><td>{{holder}}</td><td>{{delivery}}</td><td>{{status}}{{#overdue}} (overdue){{/overdue}}</td><td>{{text}}</td><td>{{answeredAt}}</td></tr>{{/holders}}</tbody>
    </table>
    </section>
    {{/enquiries}}
    {{#partner}}{{^enquiries}}<p id="empty">You have asked no enquiries yet.</p>{{/enquiries}}{{/partner}}
    {{^partner}}{{^asked}}<p id="empty">Nobody has asked you anything.</p>{{/asked}}{{/partner}}
    {{/content}}
    {{/layout}}
    """

    static let review = """
    {{<layout}}
    {{$title}}Linkage review{{/title}}
    {{$content}}
    <h1>Linkage review</h1>
    {{#decided}}<p class="notice" role="status" id="decided">Your decision on pair {{decided}} was recorded.</p>{{/decided}}
    <p class="meta"><span id="count">{{count}}</span> pairs wait for a decision. Each pair is two children the gateway could not tell apart
    with confidence: the agreement of each field (never its value), the score, and each agency's own record reference, so that you can ask it.
    <em>Same</em> merges the two; <em>different</em> keeps them apart for good.</p>
    {{#pairs}}
    <section class="pair" id="pair-{{id}}" aria-labelledby="pair-{{id}}-h">
    <h2 id="pair-{{id}}-h">Pair {{id}}: {{reason}}</h2>
    <p>Score <strong>{{score}}</strong>, found {{createdAt}}.</p>
    <table class="levels"><caption>Field agreement</caption>
    <thead><tr><th scope="col">Field</th><th scope="col">Level</th></tr></thead>
    <tbody>{{#levels}}<tr><td>{{field}}</td><td>{{level}}</td></tr>{{/levels}}</tbody>
    </table>
    <table class="sources"><caption>Records of each child</caption>
    <thead><tr><th scope="col">Child</th><th scope="col">Kind</th><th scope="col">Agency</th><th scope="col">Observed</th><th scope="col">Agency's reference</th></tr></thead>
    <tbody>{{#sources}}<tr><td>{{side}}</td><td>{{kind}}</td><td>{{source}}</td><td>{{observed}}</td><td>{{reference}}</td></tr>{{/sources}}</tbody>
    </table>
    <form method="post" action="/console/review/{{id}}" class="decide">
    <input type="hidden" name="token" value="{{token}}">
    <fieldset><legend>Are these the same child?</legend>
    <input type="radio" id="same-{{id}}" name="decision" value="same" required><label for="same-{{id}}">Same child: merge</label>
    <input type="radio" id="different-{{id}}" name="decision" value="different"><label for="different-{{id}}">Different children: keep apart</label>
    </fieldset>
    <label for="note-{{id}}">Note (what you checked; kept sealed)</label>
    <textarea id="note-{{id}}" name="note" maxlength="500" rows="2"></textarea>
    <button type="submit">Record decision on pair {{id}}</button>
    </form>
    </section>
    {{/pairs}}
    {{^pairs}}<p id="empty">Nothing waits for review.</p>{{/pairs}}
    {{/content}}
    {{/layout}}
    """

    static let audit = """
    {{<layout}}
    {{$title}}Audit log{{/title}}
    {{$content}}
    <h1>Audit log</h1>
    <p class="meta">{{size}} entries; latest checkpoint: size <strong id="checkpoint-size">{{checkpointSize}}</strong>, signed {{checkpointTime}}
    by <code>{{checkpointKey}}</code>. Check an entry and the page verifies its inclusion proof against that checkpoint's root in your browser.
    The checkpoint's signature is what <code>sightline audit verify</code> checks with the key you pinned.</p>
    <section id="verification" aria-labelledby="verification-h">
    <h2 id="verification-h">Verification</h2>
    {{#verification}}<p id="verification-status" class="{{class}}">{{status}} (run {{at}})</p><pre>{{text}}</pre>{{/verification}}
    {{^verification}}<p id="verification-status">The log has not been verified from this console since the gateway started.</p>{{/verification}}
    <form method="post" action="/console/audit/verify"><input type="hidden" name="token" value="{{token}}"><button type="submit">Verify the whole log now</button></form>
    <p class="note">The gateway runs the same check as <code>sightline audit verify --database</code>, with its own current and earlier audit keys pinned.
    Keep verifying independently, with the key you pinned, on a copy or over the API.</p>
    </section>
    <form id="filters" method="get" action="/console/audit">
    {{#filters}}<label for="filter-{{name}}">{{label}}</label><input id="filter-{{name}}" name="{{name}}" value="{{value}}" size="18">{{/filters}}
    <label for="filter-decision">Decision</label>
    <select id="filter-decision" name="decision"><option value="">Any</option>{{#decisions}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{value}}</option>{{/decisions}}</select>
    <button type="submit">Filter</button>
    </form>
    {{#ignored}}<p class="notice" role="status">A filter was ignored: {{ignored}}.</p>{{/ignored}}
    <table id="audit">
    <caption>Entries {{firstShown}} to {{lastShown}}, in order</caption>
    <thead><tr><th scope="col">#</th><th scope="col">Time</th><th scope="col">Actor</th><th scope="col">Action</th><th scope="col">Purpose</th><th scope="col">Decision</th><th scope="col">Rule</th><th scope="col">Inclusion</th></tr></thead>
    <tbody>
    {{#entries}}<tr class="entry"><td>{{index}}</td><td>{{time}}</td><td>{{actor}}</td><td>{{action}}</td><td>{{purpose}}</td><td>{{decision}}</td><td>{{rule}}</td>
    <td>{{#checkable}}<button type="button" class="prove" data-index="{{index}}" data-size="{{checkpointSize}}" data-root="{{checkpointRoot}}">Check entry {{index}}</button> <span class="proof" id="proof-{{index}}" role="status"></span>{{/checkable}}{{^checkable}}after the checkpoint{{/checkable}}</td></tr>
    {{/entries}}
    </tbody>
    </table>
    <p>{{#earlier}}<a id="earlier" href="{{earlier}}">Earlier entries</a> {{/earlier}}{{#later}}<a id="later" href="{{later}}">Later entries</a>{{/later}}</p>
    <h2>Checkpoints</h2>
    <table id="checkpoints"><caption>Signed checkpoints, newest first</caption>
    <thead><tr><th scope="col">Size</th><th scope="col">Signed</th><th scope="col">Root hash</th><th scope="col">Key</th></tr></thead>
    <tbody>{{#checkpoints}}<tr><td>{{size}}</td><td>{{time}}</td><td><code>{{root}}</code></td><td><code>{{key}}</code></td></tr>{{/checkpoints}}</tbody>
    </table>
    {{/content}}
    {{/layout}}
    """

    static let error = """
    {{<layout}}
    {{$title}}{{heading}}{{/title}}
    {{$content}}
    <h1>{{heading}}</h1>
    <p>{{message}}</p>
    <p><a href="/console/">Back to the console home</a></p>
    {{/content}}
    {{/layout}}
    """

    static let library: MustacheLibrary = {
        var templates: [String: MustacheTemplate] = [:]
        for (name, text) in [("layout", layout), ("home", home), ("report", report), ("pager", pager), ("subject", subject), ("inbox", inbox), ("enquiries", enquiries), ("review", review), ("audit", audit), ("error", error)] {
            // The templates are constants of this file: one that does not parse is a build defect, caught by the console tests.
            templates[name] = try! MustacheTemplate(string: text)
        }
        return MustacheLibrary(templates: templates)
    }()
}

/// The console's stylesheet and script, served by the gateway itself (the CSP allows nothing else).
enum ConsoleAssets {
    static let favicon = """
    <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1d4f91"/><path d="M3 8h10M8 3v10" stroke="#fff" stroke-width="2"/></svg>
    """

    static let css = """
    :root { font-family: system-ui, sans-serif; color: #1b1b1b; background: #fff; }
    body { margin: 0 auto; max-width: 72rem; padding: 0 1rem 2rem; line-height: 1.45; }
    a { color: #1d4f91; }
    a:focus, button:focus, select:focus, input:focus, textarea:focus { outline: 3px solid #ffbf47; outline-offset: 2px; }
    .skip { position: absolute; left: -999px; }
    .visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
    .skip:focus { left: 1rem; top: 1rem; background: #ffbf47; color: #000; padding: .5rem; }
    header { border-bottom: 4px solid #1d4f91; padding: .5rem 0; display: flex; flex-wrap: wrap; gap: 1rem; align-items: baseline; }
    header .brand { font-weight: 700; font-size: 1.25rem; margin: 0; }
    header .who { margin: 0; color: #333; }
    nav ul { list-style: none; display: flex; gap: 1rem; padding: 0; margin: 0; }
    .cards li { margin: .5rem 0; }
    .note { color: #333; font-size: .9rem; }
    .meta { color: #333; }
    form#filters { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; margin: 1rem 0; }
    select, button { font: inherit; padding: .2rem .4rem; }
    figure.chart { display: inline-block; margin: 0 2rem 1rem 0; vertical-align: top; }
    svg rect.bar { fill: #1d4f91; }
    svg rect.bar.suppressed { fill: #8a8a8a; }
    svg text { font-size: 11px; fill: #1b1b1b; text-anchor: middle; }
    table { border-collapse: collapse; width: 100%; margin-top: 1rem; }
    caption { text-align: left; font-weight: 600; padding: .25rem 0; }
    th, td { border-bottom: 1px solid #b1b4b6; padding: .35rem .5rem; text-align: left; vertical-align: top; }
    th a.sort { font-weight: 700; }
    th[aria-sort="ascending"] a.sort::after { content: " \\25B2" / ""; }
    th[aria-sort="descending"] a.sort::after { content: " \\25BC" / ""; }
    table#report:focus { outline: 3px solid #ffbf47; outline-offset: 2px; }
    nav.pager { margin: 1rem 0; }
    nav.pager p { margin: 0 0 .25rem; }
    nav.pager ul { flex-wrap: wrap; gap: .75rem; }
    nav.pager a[aria-current] { font-weight: 700; text-decoration: none; }
    tr.uncertain td { background: #fff7e0; }
    footer { margin-top: 2rem; color: #333; font-size: .9rem; }
    section.pair { border: 1px solid #b1b4b6; padding: .5rem 1rem; margin: 1rem 0; }
    fieldset { border: 0; padding: 0; margin: .5rem 0; }
    textarea { width: 100%; font: inherit; }
    .notice { background: #e6f0fa; border-left: 4px solid #1d4f91; padding: .5rem; }
    .proof.ok, .verified { color: #00703c; font-weight: 700; }
    .failed { color: #d4351c; font-weight: 700; }
    pre { white-space: pre-wrap; background: #f3f2f1; padding: .5rem; }
    .proof.bad { color: #d4351c; font-weight: 700; }
    """

    /// The in-page inclusion-proof check of the audit page. No inline script anywhere: the CSP
    /// allows only this file. (The report table sorts on the server, across all its pages.)
    static let js = """
    "use strict";

    // Inclusion proofs (RFC 9162 section 2.1.3.2), checked here with the browser's own SHA-256.
    function hex(buffer) { return Array.prototype.map.call(new Uint8Array(buffer), function (b) { return ("0" + b.toString(16)).slice(-2); }).join(""); }
    function bytes(h) { var out = new Uint8Array(h.length / 2); for (var i = 0; i < out.length; i++) { out[i] = parseInt(h.substr(i * 2, 2), 16); } return out; }
    function sha(prefix, a, b) {
      var data = new Uint8Array(1 + a.length + (b ? b.length : 0));
      data[0] = prefix; data.set(a, 1); if (b) { data.set(b, 1 + a.length); }
      return crypto.subtle.digest("SHA-256", data).then(function (d) { return new Uint8Array(d); });
    }
    async function verifyInclusion(leaf, index, size, path, root) {
      if (index >= size) { return false; }
      var fn = index, sn = size - 1, r = leaf;
      for (var i = 0; i < path.length; i++) {
        var p = bytes(path[i]);
        if (sn === 0) { return false; }
        if (fn % 2 === 1 || fn === sn) {
          r = await sha(1, p, r);
          if (fn % 2 === 0) { while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); } }
        } else {
          r = await sha(1, r, p);
        }
        fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
      }
      return sn === 0 && hex(r) === root;
    }
    document.addEventListener("DOMContentLoaded", function () {
      document.querySelectorAll("button.prove").forEach(function (button) {
        button.addEventListener("click", async function () {
          var index = Number(button.getAttribute("data-index")), size = Number(button.getAttribute("data-size")), root = button.getAttribute("data-root");
          var out = document.getElementById("proof-" + index);
          out.textContent = "checking...";
          try {
            var entries = await (await fetch("/v1/audit/entries?from=" + index + "&limit=1")).json();
            var entry = entries.entries[0];
            var proof = await (await fetch("/v1/audit/proofs/inclusion?index=" + index + "&size=" + size)).json();
            var canonical = Uint8Array.from(atob(entry.canonical), function (c) { return c.charCodeAt(0); });
            var leaf = entry.pruned ? bytes(entry.leafHash) : await sha(0, canonical);
            var leafOK = entry.pruned || hex(leaf) === entry.leafHash;
            var ok = leafOK && entry.index === index && proof.rootHash === root && await verifyInclusion(leaf, index, size, proof.proof, root);
            out.textContent = ok ? "included in the checkpoint of size " + size : "NOT verified";
            out.className = "proof " + (ok ? "ok" : "bad");
          } catch (e) {
            out.textContent = "could not check (" + e.name + ")";
            out.className = "proof bad";
          }
        });
      });
    });
    """
}
