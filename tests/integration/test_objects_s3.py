"""The object store contract against a real S3 server (SeaweedFS), plus what only S3 shows:
credentials, presigned URLs, and multipart uploads as the server itself reports them."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree

import httpx
import pytest

from mediacraft.shared.adapters.factory import make_object_store
from mediacraft.shared.adapters.objects.s3 import S3ObjectStore, content_disposition
from mediacraft.shared.clock import utcnow
from mediacraft.shared.errors import MediaCraftError, RetryableError
from mediacraft.shared.ports.objects import TooLarge
from mediacraft.standalone.seaweed import free_port_pairs
from tests.contracts.objects import MiB, ObjectStoreContract, Source, pattern, read_all, stream
from tests.fixtures.seaweed import S3Server
from tests.fixtures.waiting import eventually


class TestS3ObjectStore(ObjectStoreContract):
    @pytest.fixture
    def store_url(self, s3_url: str) -> str:
        return s3_url


@pytest.fixture
async def store(s3_url: str) -> Any:
    store = make_object_store(s3_url)
    assert isinstance(store, S3ObjectStore)
    await store.start()
    yield store
    await store.close()


def bucket_of(url: str) -> str:
    return urlsplit(url).path.strip("/")


def raw_uploads(seaweed: S3Server, bucket: str) -> list[tuple[str | None, str | None]]:
    """Multipart uploads as the server lists them to a plain client, not through the adapter."""
    response = seaweed.client()._execute("GET", bucket, query_params={"uploads": ""})
    root = ElementTree.fromstring(response.data)
    return [
        (next(c.text for c in up if c.tag.endswith("Key")), next(c.text for c in up if c.tag.endswith("UploadId")))
        for up in root
        if up.tag.endswith("Upload")
    ]


async def test_start_creates_the_bucket(seaweed: S3Server, s3_url: str) -> None:
    client = seaweed.client()
    assert not await asyncio.to_thread(client.bucket_exists, bucket_of(s3_url))
    store = make_object_store(s3_url)
    await store.start()
    assert await asyncio.to_thread(client.bucket_exists, bucket_of(s3_url))
    await store.close()


async def test_wrong_secret_is_refused(seaweed: S3Server, store: Any) -> None:
    intruder = make_object_store(seaweed.url(store.bucket, secret_key="not-the-secret"))
    with pytest.raises(MediaCraftError) as caught:
        await intruder.start()
    assert caught.value.code == "storage_access_denied"
    assert await intruder.ping() is False
    with pytest.raises(MediaCraftError) as caught:
        await intruder.put_stream("planted", stream(b"x"))
    assert caught.value.code == "storage_access_denied"
    assert await store.stat("planted") is None
    await intruder.close()


async def test_unreachable_server_is_a_retryable_failure() -> None:
    (port,) = free_port_pairs(1)
    store = make_object_store(f"s3://k:s@127.0.0.1:{port}/nowhere?secure=false")
    assert await store.ping() is False
    with pytest.raises(RetryableError) as caught:
        await store.start()
    assert caught.value.code == "storage_unavailable"
    await store.close()


async def test_presigned_url_serves_the_bytes_until_it_expires(store: Any) -> None:
    data = pattern(2 * MiB, seed=11)
    await store.put_stream("results/t1/out.mp4", stream(data), content_type="video/mp4")

    url = await store.presigned_get("results/t1/out.mp4", expires_seconds=60, filename='Résumé "final".mp4')
    async with httpx.AsyncClient() as http:
        response = await http.get(url)
        assert response.status_code == 200
        assert response.content == data
        assert response.headers["content-type"] == "video/mp4"
        disposition = response.headers["content-disposition"]
        assert disposition == content_disposition('Résumé "final".mp4')
        assert "filename*=UTF-8''R%C3%A9sum%C3%A9%20%22final%22.mp4" in disposition

        tampered = url.replace("results/t1/out.mp4", "results/t1/other.mp4")
        assert (await http.get(tampered)).status_code == 403

        short = await store.presigned_get("results/t1/out.mp4", expires_seconds=1)
        assert (await http.get(short)).status_code in (200, 403)  # may already be past its second

        async def refused() -> bool:
            return (await http.get(short)).status_code == 403

        await eventually(refused, timeout=10, what="the presigned URL to expire")


async def test_presigned_url_for_a_public_endpoint(seaweed: S3Server, s3_url: str) -> None:
    host, port = seaweed.endpoint.split(":")
    if host != "127.0.0.1":
        pytest.skip("needs a server on 127.0.0.1, reachable as localhost too")
    store = S3ObjectStore(
        endpoint=seaweed.endpoint,
        access_key=seaweed.access_key,
        secret_key=seaweed.secret_key,
        bucket=bucket_of(s3_url),
        secure=False,
        public_endpoint=f"localhost:{port}",
    )
    await store.start()
    await store.put_stream("k", stream(b"through the public name"))
    url = await store.presigned_get("k")
    assert url is not None and urlsplit(url).netloc == f"localhost:{port}"
    async with httpx.AsyncClient() as http:
        assert (await http.get(url)).content == b"through the public name"
    await store.close()


async def test_server_holds_no_multipart_upload_after_too_large(seaweed: S3Server, store: Any) -> None:
    with pytest.raises(TooLarge):
        await store.put_stream("up/too-big", Source(30 * MiB), max_size=20 * MiB)
    assert raw_uploads(seaweed, store.bucket) == []


async def test_listing_matches_the_server_and_aborts_keys_with_plus_and_percent(seaweed: S3Server, store: Any) -> None:
    client = seaweed.client()
    keys = ["in+box/a b%41.mp4", "inbox/plain.mp4"]
    ids = [await asyncio.to_thread(client._create_multipart_upload, store.bucket, key, {}) for key in keys]
    listed = await store.list_incomplete_uploads()
    assert sorted((u.key, u.upload_id) for u in listed) == sorted(zip(keys, ids, strict=True))
    assert sorted(raw_uploads(seaweed, store.bucket)) == sorted(zip(keys, ids, strict=True))
    assert [u.key for u in await store.list_incomplete_uploads("in+box/")] == ["in+box/a b%41.mp4"]

    assert await store.abort_incomplete_uploads(utcnow() + timedelta(minutes=1)) == 2
    assert raw_uploads(seaweed, store.bucket) == []


async def test_large_stream_is_uploaded_in_parts(seaweed: S3Server, store: Any) -> None:
    data = pattern(17 * MiB, seed=12)
    info = await store.put_stream("big", stream(data, chunk=MiB))
    # a multipart ETag is "<md5 of part md5s>-<part count>": 8 + 8 + 1 MiB is three parts
    assert info.etag is not None and info.etag.endswith("-3")
    assert await read_all(store.open_read("big", start=8 * MiB - 1, end=8 * MiB)) == data[8 * MiB - 1 : 8 * MiB + 1]


def test_content_disposition_cannot_be_broken_out_of() -> None:
    value = content_disposition('../../evil"; filename="x.exe\r\nSet-Cookie: a=b')
    assert "\r" not in value and "\n" not in value
    fallback = value.split("filename=", 1)[1].split(";", 1)[0]
    assert fallback.count('"') == 2 and "/" not in fallback
    assert content_disposition("") == "attachment; filename=\"download\"; filename*=UTF-8''download"


async def test_objects_on_the_server_have_no_local_path(store: Any) -> None:
    assert store.has_local_paths is False
    await store.put_stream("inbox/u1/clip.mp4", stream(b"on the server only"))
    assert await store.local_path("inbox/u1/clip.mp4") is None
    assert await read_all(store.open_read("inbox/u1/clip.mp4")) == b"on the server only"


async def test_stream_under_one_part_is_a_single_put(store: Any) -> None:
    info = await store.put_stream("one", stream(pattern(7 * MiB, seed=13), chunk=MiB))
    assert info.etag is not None and "-" not in info.etag  # a multipart ETag ends in -<parts>
