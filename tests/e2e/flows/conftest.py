"""Fixtures of the end-to-end flows: the product as a real subprocess in each mode, the clips a
visitor uploads, visitors, and a generation service the tests control.

`product` is module-scoped and parametrised over both modes, so a test module runs all its tests
against a standalone process, then against a local stack (every service its own process on a
fresh RabbitMQ vhost and a fresh bucket of the session's SeaweedFS), each started once. A module
changes the product's settings by overriding `product_settings`.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.e2e.flows.backend import GenerationBackend
from tests.e2e.flows.client import Visitor
from tests.e2e.flows.product import MODES, STACK, ProductProcess
from tests.fixtures.availability import unavailable
from tests.fixtures.media import make_clip

# A 180x60 logo on a 640x360 clip where inpainting has texture to work from (~27 dB after removal).
LOGO_BOX = (440, 40, 180, 60)


@dataclass(frozen=True)
class Clips:
    watermarked: Path  # 2 s 640x360 with audio, a white logo box at LOGO_BOX
    truth: Path  # the same clip without the box
    parts: tuple[Path, Path, Path]  # three short clips of different sizes for a merge


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Clips:
    for tool in ("ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            unavailable(f"{tool} is not installed")
    root = tmp_path_factory.mktemp("e2e-clips")
    return Clips(
        watermarked=make_clip(root / "logo.mp4", duration=2.0, watermark=LOGO_BOX),
        truth=make_clip(root / "truth.mp4", duration=2.0),
        parts=(
            make_clip(root / "part-1.mp4", duration=1.0, fps=25),
            make_clip(root / "part-2.mp4", duration=1.0, width=320, height=240, fps=25),
            make_clip(root / "part-3.mp4", duration=1.0, fps=25),
        ),
    )


@pytest.fixture(scope="module")
def backend() -> Iterator[GenerationBackend]:
    """A generation service the test controls; a module's `product_settings` may point the product at it."""
    service = GenerationBackend()
    yield service
    service.close()


def backend_settings(service: GenerationBackend) -> dict[str, str]:
    """The settings that send image and video generations to `service` (the product's HTTP provider)."""
    return {"MEDIACRAFT_GENERATE_PROVIDER": "http", "MEDIACRAFT_GENERATE_HTTP_ENDPOINT": service.url}


@pytest.fixture(scope="module")
def product_settings() -> dict[str, str]:
    """Settings (environment variables) a test module gives its product; override to change some."""
    return {}


def launch(request: pytest.FixtureRequest, mode: str, root: Path, settings: dict[str, str]) -> ProductProcess:
    """A not yet started product of `mode` under `root`; the stack gets a fresh vhost and bucket."""
    settings = dict(settings)
    if mode == STACK:
        seaweed = request.getfixturevalue("seaweed")
        bucket_url = seaweed.new_bucket_url()
        request.addfinalizer(lambda: seaweed.remove_bucket(urlsplit(bucket_url).path.strip("/")))
        settings["MEDIACRAFT_BUS_URL"] = request.getfixturevalue("rabbit_module_url")
        settings["MEDIACRAFT_OBJECT_STORE_URL"] = bucket_url
    return ProductProcess(mode, root / "data", root / "product.log", settings)


@pytest.fixture(scope="module", params=MODES)
def product(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, product_settings: dict[str, str]
) -> Iterator[ProductProcess]:
    """The product in one mode, started once for the module, stopped with Ctrl-C at its end."""
    served = launch(request, request.param, tmp_path_factory.mktemp(request.param), product_settings)
    served.start()
    try:
        yield served
    finally:
        if served.process is not None and served.process.poll() is None:
            try:
                served.stop()
            except BaseException:
                served.kill()
                raise


@pytest.fixture(scope="module")
def visitors(product: ProductProcess) -> Iterator[Callable[[str], Visitor]]:
    """Make new visitors of the module's product (closed at the end of the module)."""
    made: list[Visitor] = []

    def new(name: str) -> Visitor:
        visitor = Visitor(product.url, name)
        made.append(visitor)
        return visitor

    yield new
    for visitor in made:
        visitor.close()
