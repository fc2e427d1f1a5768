"""How the gateway serves the web UI, over real HTTP: cache headers, versioned asset paths, the
security headers of the page, nothing outside the bundle, and the files shipped in the wheel."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mediacraft.gateway.webui.assets import STATIC_DIR
from mediacraft.shared import error_texts
from tests.fixtures.served_product import ServedProduct

REPO = Path(__file__).resolve().parents[3]
IMPORT = re.compile(r"""["']\./([\w.-]+\.js)["']""")  # the modules' relative imports


@pytest.fixture
def http(product: ServedProduct) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=product.url, timeout=10) as client:
        yield client


def _version(index_html: str) -> str:
    found = re.search(r'src="/ui/([0-9a-f]{12})/app\.js"', index_html)
    assert found, "index.html names no versioned app.js"
    return found.group(1)


def test_the_page_is_revalidated_and_locked_down(http: httpx.Client) -> None:
    page = http.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["cache-control"] == "no-cache"
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "%UI_VERSION%" not in page.text
    assert "set-cookie" not in page.headers  # the page itself mints no identity; the API does

    again = http.get("/", headers={"If-None-Match": page.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    head = http.head("/")
    assert head.status_code == 200 and head.content == b"" and int(head.headers["content-length"]) == len(page.content)


def test_assets_live_under_a_content_version_and_every_module_is_served(http: httpx.Client) -> None:
    version = _version(http.get("/").text)
    wanted = {"app.js"}
    checked: set[str] = set()
    while wanted - checked:
        name = sorted(wanted - checked)[0]
        checked.add(name)
        answer = http.get(f"/ui/{version}/{name}")
        assert answer.status_code == 200, name
        assert answer.headers["content-type"] == "text/javascript; charset=utf-8"
        assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
        wanted |= set(IMPORT.findall(answer.text))
    assert checked >= {"app.js", "api.js", "i18n.js", "queue.js", "live.js", "watermark.js", "merge.js", "generate.js"}

    css = http.get(f"/ui/{version}/app.css")
    assert css.status_code == 200 and css.headers["content-type"] == "text/css; charset=utf-8"
    assert http.get(f"/ui/{version}/app.css", headers={"If-None-Match": css.headers["etag"]}).status_code == 304
    # a page from before a release asks for its old version: today's file, not cached for long
    stale = http.get("/ui/000000000000/app.css")
    assert stale.status_code == 200 and stale.headers["cache-control"] == "no-cache" and stale.content == css.content


@pytest.mark.parametrize(
    "path",
    [
        "/ui/{v}/missing.js",
        "/ui/{v}/../__init__.py",
        "/ui/{v}/%2e%2e/assets.py",
        "/ui/{v}/..%2f..%2fapp.py",
        "/ui/{v}/static/app.js",
        "/ui/{v}//etc/passwd",
        "/ui/{v}/index.html",
    ],
)
def test_nothing_outside_the_bundle_is_served(http: httpx.Client, path: str) -> None:
    version = _version(http.get("/").text)
    answer = http.get(path.format(v=version))
    assert answer.status_code == 404
    assert b"import" not in answer.content and b"def " not in answer.content


@pytest.mark.slow
def test_the_wheel_ships_every_static_file(tmp_path: Path) -> None:
    source = tmp_path / "gateway"
    # build from a copy: an in-tree build leaves build/ and egg-info behind
    shutil.copytree(
        REPO / "services" / "gateway", source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            str(source),
            "-w",
            str(tmp_path / "dist"),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    [wheel] = (tmp_path / "dist").glob("*.whl")
    shipped = {name for name in zipfile.ZipFile(wheel).namelist() if "/webui/static/" in name}
    expected = {f"mediacraft/gateway/webui/static/{p.name}" for p in STATIC_DIR.iterdir() if p.is_file()}
    assert expected and shipped == expected


def test_a_services_sentence_for_an_error_code_reads_in_the_visitors_language(page: Any) -> None:
    """A task's message written from the shared error table (a worker's disk filled up) is shown
    in Chinese; a sentence the table does not hold is shown as the service wrote it."""
    english = error_texts.sentence("disk_full")
    shown = page.evaluate(
        """async ([english]) => {
            const href = document.querySelector('link[rel="modulepreload"][href$="/i18n.js"]').href;
            const i18n = await import(href);
            i18n.setLang("zh");
            const zh = [i18n.serverText(english), i18n.t("err.disk_full"), i18n.serverText("clip 2 ends early")];
            i18n.setLang("en");
            return [...zh, i18n.serverText(english)];
        }""",
        [english],
    )
    assert shown == [
        error_texts.sentence("disk_full", "zh"),
        error_texts.sentence("disk_full", "zh"),
        "clip 2 ends early",
        english,
    ]
