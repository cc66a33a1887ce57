"""Publish the ASV pages with local, pinned copies of their scripts, and serve them.

``asv publish`` writes pages that load jQuery, flot and its plugins, bootstrap, blueimp-md5 and
stupidtable from CDNs; without network every page redirects to ASV's error page. This script
runs ``asv publish``, copies ``benchmarks/asv_vendor/`` (the npm packages' files, with their
licenses; see its README.md) into the published directory and rewrites every CDN address in
the published HTML to the local copy (dropping the CDN's ``integrity`` hashes, which were
computed for the CDN's own minified builds). An address it does not know stops it with an error,
so a newer ASV cannot silently publish pages that still need the network.

Usage::

    python scripts/asv_publish_offline.py                 # publish into asv.conf.json's html_dir
    python scripts/asv_publish_offline.py --serve 8080    # ... and serve it on http://127.0.0.1:8080/
    python scripts/asv_publish_offline.py --no-publish --html-dir .asv/html   # rewrite an existing one

The pages must be served over HTTP (ASV loads its JSON with XMLHttpRequest, which browsers refuse
from ``file://``).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENDOR = ROOT / "benchmarks" / "asv_vendor"
#: the folder of the published directory that receives the copies
VENDOR_DIR = "asv_vendor"

#: CDN address (as ASV 0.6 writes it) -> file under benchmarks/asv_vendor/
LOCAL_COPIES = {
    "https://code.jquery.com/jquery-3.3.1.min.js": "jquery-3.3.1/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.min.js": "flot-0.8.3/jquery.flot.js",
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.time.min.js": "flot-0.8.3/jquery.flot.time.js",
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.selection.min.js": (
        "flot-0.8.3/jquery.flot.selection.js"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.categories.min.js": (
        "flot-0.8.3/jquery.flot.categories.js"
    ),
    "https://cdn.jsdelivr.net/npm/flot-orderbars@1.0.0/js/jquery.flot.orderBars.js": (
        "flot-orderbars-1.0.0/jquery.flot.orderBars.js"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/stupidtable/1.0.1/stupidtable.min.js": (
        "stupid-table-plugin-1.1.3/stupidtable.min.js"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/blueimp-md5/2.19.0/js/md5.min.js": "blueimp-md5-2.19.0/md5.min.js",
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/js/bootstrap.min.js": "bootstrap-3.1.1/js/bootstrap.min.js",
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/css/bootstrap.min.css": "bootstrap-3.1.1/css/bootstrap.min.css",
}

_TAG = re.compile(r"<(script|link)\b[^>]*>", re.IGNORECASE)
_URL = re.compile(r"""\b(src|href)=["'](https?://[^"']+)["']""", re.IGNORECASE)
_REMOTE_ATTRS = re.compile(r"""\s(integrity|crossorigin|referrerpolicy)=["'][^"']*["']""", re.IGNORECASE)


class UnknownAddress(ValueError):
    """A published page loads a script or style sheet from an address with no local copy."""


def rewrite_html(text: str) -> str:
    """``text`` with every CDN script and style sheet pointed at its local copy.

    Raises:
        UnknownAddress: a ``<script>`` or ``<link>`` loads from an address not in :data:`LOCAL_COPIES`.
    """

    def local(tag: re.Match) -> str:
        source = tag.group(0)
        found = _URL.search(source)
        if not found:
            return source
        address = found.group(2)
        if address not in LOCAL_COPIES:
            if tag.group(1).lower() == "link" and "stylesheet" not in source.lower():
                return source  # a plain link (not loaded by the page)
            raise UnknownAddress(f"no local copy of {address}; add it to benchmarks/asv_vendor and LOCAL_COPIES")
        source = source.replace(address, f"{VENDOR_DIR}/{LOCAL_COPIES[address]}")
        return _REMOTE_ATTRS.sub("", source)

    return _TAG.sub(local, text)


def make_offline(html_dir: Path) -> list[Path]:
    """Copy the vendored files into ``html_dir`` and rewrite its HTML pages; returns the pages rewritten."""
    missing = [name for name in LOCAL_COPIES.values() if not (VENDOR / name).is_file()]
    if missing:
        raise FileNotFoundError(f"missing vendored files under {VENDOR}: {', '.join(missing)}")
    target = html_dir / VENDOR_DIR
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(VENDOR, target)
    rewritten = []
    for page in sorted(html_dir.glob("*.html")):
        text = page.read_text(encoding="utf-8")
        new = rewrite_html(text)
        if new != text:
            page.write_text(new, encoding="utf-8")
            rewritten.append(page)
    return rewritten


def html_dir_of(config: Path) -> Path:
    """The ``html_dir`` of an ASV config file (relative to the config's directory)."""
    from asv.util import load_json

    settings = load_json(str(config), js_comments=True)
    return (config.parent / settings.get("html_dir", "html")).resolve()


def serve(directory: Path, port: int, host: str = "127.0.0.1") -> None:
    """Serve ``directory`` over HTTP until interrupted."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    with http.server.ThreadingHTTPServer((host, port), handler) as server:
        print(f"serving {directory} on http://{host}:{server.server_address[1]}/ (Ctrl-C stops)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=ROOT / "asv.conf.json", help="ASV config (asv.conf.json)")
    parser.add_argument("--html-dir", type=Path, help="published directory (default: the config's html_dir)")
    parser.add_argument("--no-publish", action="store_true", help="only rewrite an already published directory")
    parser.add_argument("--serve", type=int, metavar="PORT", help="serve the pages on http://127.0.0.1:PORT/")
    args = parser.parse_args(argv)
    html_dir = args.html_dir or html_dir_of(args.config)
    if not args.no_publish:
        command = [sys.executable, "-m", "asv", "publish", "--config", str(args.config)]
        if args.html_dir:
            command += ["--html-dir", str(args.html_dir)]
        done = subprocess.run(command, check=False)
        if done.returncode != 0:
            print(f"asv_publish_offline: asv publish failed (exit {done.returncode})", file=sys.stderr)
            return done.returncode
    if not (html_dir / "index.html").is_file():
        print(f"asv_publish_offline: error: {html_dir} holds no published pages (index.html)", file=sys.stderr)
        return 2
    try:
        pages = make_offline(html_dir)
    except (UnknownAddress, FileNotFoundError) as exc:
        print(f"asv_publish_offline: error: {exc}", file=sys.stderr)
        return 2
    print(f"{html_dir}: {len(pages)} page(s) now load their scripts from {VENDOR_DIR}/")
    if args.serve is not None:
        serve(html_dir, args.serve)
    return 0


if __name__ == "__main__":
    sys.exit(main())
