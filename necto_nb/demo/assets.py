"""The demo site's page and static files, generated here so the package ships no data files.

The page pulls a stylesheet, a script, an SVG logo, SVG tiles and a PNG, and its script calls
the JSON API (GET and POST), the slow endpoint and the WebSocket echo, so one browser page load
gives a realistic waterfall: document, render-blocking CSS, deferred JS, images, then XHRs.
The empty data: icon stops the browser's favicon request, which comes at no fixed time and
would make repeated page loads differ.
"""

from __future__ import annotations

import base64
import hashlib
import re

TILES = 4

INDEX_HTML = (
    """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>necto demo shop</title>
<link rel="stylesheet" href="/static/style.css">
<link rel="icon" href="data:,">
<script src="/static/app.js" defer></script>
</head>
<body>
<header><img src="/static/img/logo.svg" alt="" width="48" height="48"><h1>necto demo shop</h1></header>
<main>
<p id="status">loading</p>
<ul id="items"></ul>
<section class="tiles">
"""
    + "".join(f'<img src="/static/img/tile-{n}.svg" alt="tile {n}" width="96" height="96">\n' for n in range(1, TILES + 1))
    + """<img src="/static/img/photo.png" alt="photo" width="96" height="96">
</section>
</main>
</body>
</html>
"""
)

# Long enough (> 1 KiB) that the server gzips it, like a real stylesheet would be.
STYLE_CSS = (
    """/* necto demo shop */
:root { --ink: #1d2430; --accent: #2f6fde; --paper: #fbfbfd; }
body { font: 15px/1.5 system-ui, sans-serif; color: var(--ink); background: var(--paper); margin: 0; }
header { display: flex; gap: 12px; align-items: center; padding: 12px 24px; background: #e9eef8; }
h1 { font-size: 20px; margin: 0; }
main { padding: 16px 24px; }
#status { font-weight: 600; color: var(--accent); }
#items { columns: 2; padding-left: 18px; }
.tiles { display: flex; flex-wrap: wrap; gap: 8px; }
.tiles img { border-radius: 6px; box-shadow: 0 1px 3px rgba(0, 0, 0, .2); }
"""
    + "".join(
        f".tone-{n} {{ color: hsl({n * 36}, 60%, 40%); border-left: 3px solid hsl({n * 36}, 60%, 60%); padding-left: 4px; }}\n"
        for n in range(10)
    )
)

APP_JS = """// necto demo shop: the API calls a page load makes, then "ready" (or the failure) in #status.
"use strict";
const statusLine = document.getElementById("status");
const headers = { "Authorization": "Bearer demo-token", "Content-Type": "application/json" };

function echo(text) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${location.host}/ws`);
    ws.onopen = () => ws.send(text);
    ws.onmessage = (event) => { ws.close(); resolve(event.data); };
    ws.onerror = () => reject(new Error("websocket failed"));
  });
}

async function main() {
  const listed = await (await fetch("/api/items", { headers })).json();
  const list = document.getElementById("items");
  for (const item of listed.items) {
    const li = document.createElement("li");
    li.textContent = `${item.name} (${item.price})`;  // textContent: never parse data as HTML
    list.append(li);
  }
  const created = await fetch("/api/items", {
    method: "POST", headers, body: JSON.stringify({ name: "widget", price: 9.5 }),
  });
  if (created.status !== 201) throw new Error(`POST /api/items gave ${created.status}`);
  await fetch("/slow?ms=50");
  const echoed = await echo("hello");
  if (echoed !== "hello") throw new Error(`echo gave ${echoed}`);
  statusLine.textContent = "ready";
}

main().catch((error) => { statusLine.textContent = `failed: ${error.message}`; });
"""

LOGO_SVG = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 48 48" width="48" height="48">
<circle cx="24" cy="24" r="22" fill="#2f6fde"/>
<path d="M14 32V16l20 16V16" stroke="#fff" stroke-width="4" fill="none" stroke-linejoin="round"/>
</svg>
"""


def tile_svg(n: int) -> str:
    """A 96x96 tile whose colour depends on n, so each tile is a distinct resource."""
    hue = (n * 67) % 360
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 96 96" width="96" height="96">'
        f'<rect width="96" height="96" fill="hsl({hue}, 55%, 55%)"/>'
        f'<text x="48" y="60" font-size="36" text-anchor="middle" fill="#fff">{n}</text></svg>\n'
    )


# A 16x16 RGB gradient: a real binary body (base64 in a HAR), kept inline rather than as a file.
PHOTO_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAIAAACQkWg2AAABlklEQVR42g3LQQEAIQgAQSMQwQhEIIIRjEAEIhjBCETguU8jGMEI"
    "d/Of1hrS6A1tWGM0ZsMb0ViN3chGNU7jNl6jNUGELqhgwhCm4EIIS9hCCiUc4QpP/tCRTu9oxzqjMzveic7q7E52qnM6t/P6HxRR"
    "uqKKKUOZiiuhLGUrqZRylKs8/YMhRjfUMGMY03AjjGVsI40yjnGNZ38YyKAPdGCDMZgDH8RgDfYgBzU4gzt44w8TmfSJTmwyJnPi"
    "k5isyZ7kpCZncidv/sERpzvqmDOc6bgTznK2k045x7nO8z8EEvRAAwtGMAMPIljBDjKo4AQ3ePGHhSz6Qhe2GIu58EUs1mIvclGL"
    "s7iLt/6wkU3f6MY2YzM3vonN2uxNbmpzNnfz9h8SSXqiiSUjmYknkaxkJ5lUcpKbvPxDIUUvtLBiFLPwIopV7CKLKk5xi1d/OMih"
    "H/Rgh3GYBz/EYR32IQ91OId7eOcPF7n0i17sMi7z4pe4rMu+5KUu53Iv7/7hIY/+0Ic9xmM+/BGP9diPfNTjPO7jPT6GdLgQ8hjY"
    "ogAAAABJRU5ErkJggg=="
)

# name -> (content type, body); tiles are added below.
STATIC: dict[str, tuple[str, bytes]] = {
    "style.css": ("text/css; charset=utf-8", STYLE_CSS.encode()),
    "app.js": ("application/javascript; charset=utf-8", APP_JS.encode()),
    "img/logo.svg": ("image/svg+xml", LOGO_SVG.encode()),
    "img/photo.png": ("image/png", PHOTO_PNG),
}
STATIC.update({f"img/tile-{n}.svg": ("image/svg+xml", tile_svg(n).encode()) for n in range(1, TILES + 1)})

# Enough catalogue that GET /api/items is over 1 KiB and so goes out gzip-compressed.
SEED_ITEMS = [
    {"name": name, "price": price, "description": f"A {name} from the necto demo catalogue, item {i + 1} of 16."}
    for i, (name, price) in enumerate(
        [
            ("anvil", 120.0), ("bolt", 0.4), ("cog", 2.5), ("dowel", 0.9), ("easel", 35.0), ("file", 7.25),
            ("gauge", 14.0), ("hinge", 3.1), ("inkwell", 11.0), ("jig", 22.0), ("knob", 1.75), ("lathe", 980.0),
            ("mallet", 18.5), ("nut", 0.15), ("oiler", 6.4), ("pliers", 12.9),
        ]
    )
]

_STATIC_LINK = re.compile(r'((?:src|href)=")/static/([^"]+)"')
_CONTENT_HASH = re.compile(r"\.[0-9a-f]{8}(\.[A-Za-z0-9]+)$")


def index_html(build: int | None = None) -> str:
    """The page; with a `build` number, its static files are linked as a bundler deploys
    them: under `/build-<n>/static/`, each name with a hash that changes every build."""
    if build is None:
        return INDEX_HTML
    return _STATIC_LINK.sub(lambda m: f'{m.group(1)}{built_path(m.group(2), build)}"', INDEX_HTML)


def built_path(name: str, build: int) -> str:
    """`/build-<n>/static/<stem>.<8 hex>.<ext>` for a static file's name."""
    stem, _, ext = name.rpartition(".")
    digest = hashlib.sha256(f"{build}:{name}".encode()).hexdigest()[:8]
    return f"/build-{build}/static/{stem}.{digest}.{ext}"


def unbuilt(name: str) -> str:
    """A static file's name without the hash `built_path` put in it."""
    return _CONTENT_HASH.sub(r"\1", name)
