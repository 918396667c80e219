"""``dagster-webserver`` on loopback shows the four entity assets on the asset lineage page
in headless Chromium; the screenshot is kept as a CI artefact."""

from __future__ import annotations

import contextlib
from pathlib import Path

from tests.dagster.webdriver import chromium, dagster_webserver, wait_for

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "artifacts" / "dagster-asset-lineage.png"
ENTITIES = ["items", "work_centers", "orders", "order_lines"]

#: the names on the asset nodes of the lineage graph (SVG foreignObjects), once rendered
NODE_TITLES = """
return Array.from(document.querySelectorAll('svg foreignObject [class*="AssetNode_assetName"]'))
  .map(e => e.textContent.trim()).join('\\n');
"""
#: the "join the community" dialog of a fresh instance hides the graph: skip it
SKIP_DIALOG = """
const skip = Array.from(document.querySelectorAll('button'))
  .find(b => b.innerText.trim() == 'Skip');
if (skip) { skip.click(); return true; }
return false;
"""


def test_the_lineage_page_shows_the_four_entity_assets(tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    with (
        dagster_webserver(home, tmp_path / "webserver.log") as url,
        chromium(tmp_path / "chromedriver.log") as browser,
    ):
        browser.open(url + "/asset-groups")

        def all_shown() -> bool:
            text = browser.script(NODE_TITLES)
            return all(name in text.split() for name in ENTITIES)

        wait_for(all_shown, "the four entity assets on the lineage page")
        browser.script(SKIP_DIALOG)
        nodes = browser.script(NODE_TITLES).split()
        for name in ENTITIES:
            assert name in nodes
        with contextlib.suppress(TimeoutError):  # a nicer screenshot: the node details loaded
            wait_for(
                lambda: "Loading" not in browser.script("return document.body.innerText"),
                "node details",
                seconds=20,
            )
        browser.screenshot(SCREENSHOT)
    assert SCREENSHOT.stat().st_size > 10_000
