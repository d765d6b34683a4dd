"""A partnership's page in a real browser: how soon it is interactive, how soon a slider's move
shows, for the curated Vodafone partnership and for a synthetic one of 1,000 events, beside
the JSON state of the same basis fetched by the same browser (the reference). A slider's
move and the JSON are timed inside the page (`performance.now()`): from the input event until
the new body is in and the next frame begins, so Playwright's round trips are not counted.

Needs Debian's `chromium` (apt-get install chromium) and Playwright (dev dependencies).

Run:  .venv/bin/python bench/page.py [--events 1000] [--samples 5]
Prints one JSON line per case, then a table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from endpoints import ROOT, free_port, wait_up
from playwright.sync_api import Page, sync_playwright

TIMELINE = str(ROOT / ".venv" / "bin" / "timeline")


def measure(page: Page, base: str, stream: str, samples: int) -> dict[str, float]:
    """Median over `samples` fresh loads: interactive, a slider's move, and the JSON state."""
    interactive, moved, state = [], [], []
    for _ in range(samples):
        page.goto(f"{base}/partnerships/{stream}/timeline")
        interactive.append(
            page.evaluate("performance.getEntriesByType('navigation')[0].domInteractive")
        )
        # Timed inside the page, as a person sees it: from the slider's input event until the
        # new body is in and the next frame begins (Playwright's own round trips left out).
        moved.append(
            page.locator("#as-of").evaluate(
                """el => new Promise(resolve => {
                    const body = document.getElementById('timeline-body');
                    const began = performance.now();
                    new MutationObserver((_, seen) => {
                        seen.disconnect();
                        requestAnimationFrame(() => resolve(performance.now() - began));
                    }).observe(body, { childList: true });
                    el.value = Math.floor(el.max / 2);
                    el.dispatchEvent(new Event('input'));
                })"""
            )
        )
        state.append(
            page.evaluate(
                f"""async () => {{
                    const began = performance.now();
                    await (await fetch('/partnerships/{stream}', {{ cache: 'no-store' }})).text();
                    return performance.now() - began;
                }}"""
            )
        )
    return {
        "interactive_ms": round(statistics.median(interactive), 1),
        "slider_ms": round(statistics.median(moved), 1),
        "json_state_ms": round(statistics.median(state), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=5)
    args = parser.parse_args()
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("no chromium: apt-get install chromium")
    with tempfile.TemporaryDirectory() as scratch:
        source, db = Path(scratch) / "big.ndjson", Path(scratch) / "page.db"
        subprocess.run(
            [sys.executable, str(Path(__file__).with_name("synthetic.py")), str(source),
             "--partnerships", "1", "--events", str(args.events)],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        env = os.environ | {"TIMELINE_DATABASE_URL": f"sqlite:///{db}", "TIMELINE_CURATED_DIR": ""}
        for lines in (source, ROOT / "events" / "vodafone-microsoft.ndjson"):  # recording order
            subprocess.run([TIMELINE, "import", str(lines)], check=True, env=env,
                           stdout=subprocess.DEVNULL)  # fmt: skip
        port = free_port()
        server = subprocess.Popen(
            [TIMELINE, "serve", "--port", str(port)], env=env, cwd=scratch,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            wait_up(f"{base}/health")
            results: dict[str, dict[str, Any]] = {}
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium)
                page = browser.new_page(viewport={"width": 1440, "height": 900})
                for label, stream in (
                    ("curated (Vodafone, 13 events)", "vodafone-microsoft"),
                    (f"synthetic ({args.events} events)", "p00000"),
                ):
                    results[label] = measure(page, base, stream, args.samples)
                    print(json.dumps({"case": label, **results[label]}))
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(
        f"\n{'page (median ms)':34}{'interactive':>13}{'slider':>9}{'JSON state':>12}{'ratio':>8}"
    )
    for label, row in results.items():
        ratio = row["slider_ms"] / max(row["json_state_ms"], 0.1)
        print(
            f"{label:34}{row['interactive_ms']:>13}{row['slider_ms']:>9}"
            f"{row['json_state_ms']:>12}{ratio:>7.1f}x"
        )


if __name__ == "__main__":
    main()
