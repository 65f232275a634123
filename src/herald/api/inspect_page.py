"""The inspector's two HTML pages: no build step, no CDN, a few lines of vanilla JS.

The pages hold no data. The script asks for an API token (kept in sessionStorage), reads bins and captured
requests from the API, and follows new captures with EventSource on a short-lived stream ticket. The script
is constant (the bin id travels in a data attribute), so the Content-Security-Policy pins it by hash.
"""

from __future__ import annotations

import base64
import hashlib
import html
from pathlib import Path

SCRIPT = """
const $ = (s) => document.querySelector(s);
const api = async (method, path, body) => {
  const token = sessionStorage.getItem("herald-token") || "";
  const r = await fetch(path, {method, headers: {"authorization": "Bearer " + token,
    "content-type": "application/json"}, body: body ? JSON.stringify(body) : undefined});
  const data = r.status === 204 ? null : await r.json();
  if (!r.ok) throw new Error(data && data.error ? data.error.message : String(r.status));
  return data;
};
const say = (text) => { $("#status").textContent = text; };
$("#token").value = sessionStorage.getItem("herald-token") || "";
$("#token").addEventListener("change", (e) => { sessionStorage.setItem("herald-token", e.target.value);
  start(); });
const binId = document.body.dataset.bin;

function row(req) {
  const d = document.createElement("details");
  d.className = "request";
  d.dataset.id = req.id;
  const s = document.createElement("summary");
  s.textContent = `${req.created_at}  ${req.method} ${req.path}${req.query ? "?" + req.query : ""}` +
    `  from ${req.source}  (${req.body_size} bytes${req.truncated ? ", truncated" : ""})`;
  const h = document.createElement("pre");
  h.textContent = req.headers.map(([k, v]) => `${k}: ${v}`).join("\\n");
  const b = document.createElement("pre");
  b.className = "body";
  b.textContent = req.body;
  d.append(s, h, b);
  return d;
}

let lastAt = null;  // the newest capture shown: a reconnect streams from there, so none is missed
function add(req) {
  if (!lastAt || Date.parse(req.created_at) > Date.parse(lastAt)) lastAt = req.created_at;
  if (document.querySelector(`[data-id="${req.id}"]`)) return;
  $("#requests").prepend(row(req));
}

let source = null;
async function follow() {
  const t = new URL((await api("POST", `/v1/inspect/bins/${binId}/tickets`)).stream_url);
  if (lastAt) t.searchParams.set("since", lastAt);
  source = new EventSource(t.pathname + t.search);
  source.addEventListener("open", () => say("live"));
  source.addEventListener("request", (e) => add(JSON.parse(e.data)));
  source.addEventListener("expired", () => { say("this bin has expired"); source.close(); });
  source.onerror = () => { source.close(); say("reconnecting…"); setTimeout(follow, 2000); };
}

async function start() {
  if (!sessionStorage.getItem("herald-token")) { say("enter a token"); return; }
  try {
    if (binId) {
      const bin = await api("GET", `/v1/inspect/bins/${binId}`);
      $("#url").textContent = bin.url;
      const page = await api("GET", `/v1/inspect/bins/${binId}/requests?limit=100`);
      $("#requests").replaceChildren(...page.data.map(row));
      if (page.data.length) lastAt = page.data[0].created_at;
      if (source) source.close();
      await follow();
    } else {
      const page = await api("GET", "/v1/inspect/bins");
      $("#bins").replaceChildren(...page.data.map((b) => {
        const li = document.createElement("li");
        const a = document.createElement("a");
        a.href = `/inspect/bins/${b.id}`;
        a.textContent = `${b.name || b.id} (${b.account_id}), expires ${b.expires_at}`;
        li.append(a);
        return li;
      }));
      say("");
    }
  } catch (err) { say(String(err.message || err)); }
}

if (!binId) {
  $("#create").addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const account = $("#account").value.trim();
      const bin = await api("POST", "/v1/inspect/bins", {account_id: account || null,
        name: $("#name").value.trim() || null});
      location.href = bin.page_url;
    } catch (err) { say(String(err.message || err)); }
  });
}
start();
"""

_HASH = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
HEADERS = {
    "content-security-policy": (
        f"default-src 'self'; script-src 'sha256-{_HASH}'; style-src 'unsafe-inline'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
}

# The dashboard's own stylesheet, inlined (the CSP allows inline styles only, and the inspector works with
# the dashboard turned off), plus the few rules that are the inspector's own.
STYLE = (Path(__file__).resolve().parent.parent / "ui" / "static" / "ui.css").read_text() + """
details.request { background: var(--card); border: 1px solid var(--line); border-radius: 8px; margin: 8px 0; }
details.request summary { cursor: pointer; padding: 8px 12px; font-family: ui-monospace, monospace;
  font-size: 12.5px; }
details.request pre { margin: 0 12px 10px; }
#status { color: #8a5a00; margin-left: 8px; }
#status:empty { display: none; }
.capture code { word-break: break-all; }
ul.bins { list-style: none; padding: 0; margin: 0; }
ul.bins li { padding: 6px 0; border-bottom: 1px solid var(--line); }
ul.bins li:last-child { border-bottom: 0; }
ul.bins:empty::after { content: "No bins yet."; color: var(--muted); }
#requests:empty::after { content: "Nothing captured yet: send any request to the capture URL.";
  color: var(--muted); }
"""

_TOKEN = """<div class="card"><label>API token <input id="token" type="password" size="46"
autocomplete="off" placeholder="admin or personal access token"></label>
<span id="status" role="status"></span></div>"""

_TOP = """<header class="top"><a class="brand" href="/ui/">Herald</a><nav>
<a href="/ui/">Dashboard</a><a href="/inspect" aria-current="page">Inspector</a><a href="/docs">API docs</a>
</nav></header>"""


def _page(title: str, body_attrs: str, content: str) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title} · Herald</title>'
        f"<style>{STYLE}</style></head><body{body_attrs}>{_TOP}<main>"
        f"<h1>{title}</h1>{_TOKEN}{content}</main><script>{SCRIPT}</script></body></html>"
    )


INDEX = _page(
    "Inspector",
    "",
    """<p class="muted hint">A bin captures whatever is sent to its URL, so you can see exactly what a webhook
sender sends. Point a subscription at a bin's capture URL to watch Herald's deliveries arrive.</p>
<div class="card"><h3>New bin</h3><form id="create" class="inline">
<label>Account <input id="account" size="24" placeholder="account id"></label>
<label>Name <input id="name" size="24" placeholder="optional"></label>
<button>Create a bin</button></form>
<p class="muted hint">The admin token names the account; a personal access token uses its own.</p></div>
<h2>Bins</h2><div class="card"><ul id="bins" class="bins"></ul></div>""",
)


def bin_page(bin_id: str) -> str:
    return _page(
        "Inspector: bin",
        f' data-bin="{html.escape(bin_id)}"',
        """<p><a href="/inspect">← all bins</a></p>
<div class="card capture"><h3>Capture URL</h3><p class="muted hint">Any method, any subpath.</p>
<code id="url"></code></div>
<h2>Requests</h2><div id="requests"></div>""",
    )
