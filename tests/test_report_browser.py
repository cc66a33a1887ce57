"""The HTML report opens in a real browser (headless Chromium) with every figure rendered.

Skipped where Debian's ``chromium`` is not installed (``apt-get install chromium``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile

import pandas as pd
import pytest
from PIL import Image

from neural_ode.reporting import render_report

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium")

#: appended to a copy of report.html: after the load event, records on <body> how many distinct figures
#: (image sources) there are, how many decoded (complete with a natural width), and their natural widths.
#: The answers at the top show a figure that the figures section shows again: one source, two images.
PROBE = """<script>
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var distinct = function (list) {
    var seen = {};
    return list.filter(function (i) {
      var s = i.getAttribute("src");
      if (seen[s]) return false;
      seen[s] = 1;
      return true;
    });
  };
  var rendered = distinct(images.filter(function (i) { return i.complete && i.naturalWidth > 0; }));
  document.body.setAttribute("data-images", String(distinct(images).length));
  document.body.setAttribute("data-shown", String(images.length));
  document.body.setAttribute("data-rendered", String(rendered.length));
  document.body.setAttribute("data-widths", rendered.map(function (i) { return i.naturalWidth; }).join(","));
});
</script>
"""


def frame() -> pd.DataFrame:
    """Direct and adjoint on rk4 over three depths and on dopri5 over three tolerances."""
    rows = []
    for method in ("direct", "adjoint"):
        adjoint = method == "adjoint"
        cells = [("rk4", s, None, 4 * s) for s in (8, 16, 32)]
        cells += [("dopri5", None, tol, nfe) for tol, nfe in ((1e-3, 20), (1e-5, 50), (1e-7, 110))]
        for solver, steps, tol, nfe in cells:
            rows.append(
                {
                    "method": method, "solver": solver, "steps": steps, "horizon": 1.0, "rtol": tol, "atol": tol,
                    "status": "ok", "nfe_forward": nfe, "nfe_backward": nfe // 2 if adjoint else 0,
                    "saved_bytes": 250_000 if adjoint else 300_000 * nfe,
                    "cpu_peak_bytes": 700_000 if adjoint else 600_000 * nfe,
                    "time_forward_s": 1e-3 * nfe, "time_backward_s": (3e-3 if adjoint else 2e-3) * nfe,
                    "grad_rel_error": 1.0 / nfe**2,
                }
            )  # fmt: skip
    return pd.DataFrame(rows)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_html_report_renders_every_figure_in_chromium(tmp_path):
    html = render_report(frame(), tmp_path / "report")
    pngs = sorted((tmp_path / "report" / "figures").glob("*.png"))
    assert len(pngs) == 8  # work- and memory-precision, saved and CPU-peak memory, time, three NFE figures
    probe = tmp_path / "probe.html"
    probe.write_text(html.read_text().replace("</body>", PROBE + "</body>"))
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [
                CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={profile}", "--virtual-time-budget=10000", "--dump-dom", probe.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    body = re.search(r"<body[^>]*>", done.stdout)
    assert body, done.stdout[:2000]
    attributes = dict(re.findall(r'data-(\w+)="([^"]*)"', body.group(0)))
    assert attributes.get("images") == str(len(pngs)), attributes
    assert attributes["rendered"] == str(len(pngs))
    assert len(pngs) < int(attributes["shown"]) <= 2 * len(pngs)  # the answers repeat some, none twice over
    widths = sorted(int(w) for w in attributes["widths"].split(","))
    expected = []
    for path in pngs:
        with Image.open(path) as image:
            expected.append(image.width)
    assert widths == sorted(expected)
