"""Bus throughput on the real broker: RabbitBus beside bare aio-pika, measured in the same run.

    python -m bench.bus [--count 5000] [--window 100] [--prefetch 100]

Works in a temporary vhost of its own (made and deleted with rabbitmqctl) on the broker at
127.0.0.1:5672 (guest/guest unless --url-base says otherwise). Every figure publishes the same
probe envelopes to the same quorum queue (jobs.merge) with the same number of publishes in flight:
- confirmed publish rate: RabbitBus.publish against an aio-pika channel with publisher confirms;
- end-to-end rate (publish N and consume all N, consumer running from the start): RabbitBus with
  its consume/handler/ack path against an aio-pika consumer that acks each message.
The ratio is RabbitBus over bare aio-pika: what the adapter's guarantees cost. On a slow or busy
machine the count is scaled down (not below 1,000) so that the measurements fit `--budget` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable

import aio_pika

from mediacraft.shared.adapters.bus.rabbitmq import RabbitBus
from mediacraft.shared.messages import ProbeMessage
from mediacraft.shared.messages.envelope import Envelope
from mediacraft.shared.ports.bus import Incoming
from mediacraft.shared.topology import JOBS, build_topology, job_queue

POOL = "merge"
QUEUE = job_queue(POOL)
MIN_COUNT = 1_000


def _ctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "--quiet", *args], check=True, capture_output=True, timeout=120)


def _envelope(n: int) -> Envelope:
    return Envelope.wrap(ProbeMessage(n=n, text="x" * 64), correlation_id=f"task-{n}")


async def _windowed(publish: Callable[[int], Awaitable[object]], count: int, window: int) -> None:
    for start in range(0, count, window):
        await asyncio.gather(*(publish(n) for n in range(start, min(start + window, count))))


async def _timed(work: Callable[[], Awaitable[None]]) -> float:
    began = time.perf_counter()
    await work()
    return time.perf_counter() - began


async def _bare_publish(url: str, count: int, window: int) -> float:
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await channel.get_exchange(JOBS, ensure=False)

        async def one(n: int) -> object:
            message = aio_pika.Message(_envelope(n).to_bytes(), delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
            return await exchange.publish(message, POOL, mandatory=True)

        return await _timed(lambda: _windowed(one, count, window))
    finally:
        await connection.close()


async def _bare_end_to_end(url: str, count: int, window: int, prefetch: int) -> float:
    connection = await aio_pika.connect(url)
    try:
        publisher = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await publisher.get_exchange(JOBS, ensure=False)
        consumer = await connection.channel()
        await consumer.set_qos(prefetch_count=prefetch)
        queue = await consumer.get_queue(QUEUE, ensure=False)
        seen, done = 0, asyncio.Event()

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal seen
            Envelope.from_bytes(message.body)  # the same parse the adapter does, for fairness
            await message.ack()
            seen += 1
            if seen == count:
                done.set()

        async def one(n: int) -> object:
            message = aio_pika.Message(_envelope(n).to_bytes(), delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
            return await exchange.publish(message, POOL, mandatory=True)

        async def work() -> None:
            tag = await queue.consume(on_message)
            await _windowed(one, count, window)
            await done.wait()
            await queue.cancel(tag)

        return await _timed(work)
    finally:
        await connection.close()


async def _bus_publish(bus: RabbitBus, count: int, window: int) -> float:
    return await _timed(lambda: _windowed(lambda n: bus.publish(JOBS, POOL, _envelope(n)), count, window))


async def _bus_end_to_end(bus: RabbitBus, count: int, window: int, prefetch: int) -> float:
    seen, done = 0, asyncio.Event()

    async def handler(_: Incoming) -> None:
        nonlocal seen
        seen += 1
        if seen == count:
            done.set()

    async def work() -> None:
        subscription = await bus.consume(QUEUE, handler, prefetch=prefetch)
        await _windowed(lambda n: bus.publish(JOBS, POOL, _envelope(n)), count, window)
        await done.wait()
        await subscription.cancel()

    return await _timed(work)


async def _purge(url: str) -> None:
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        await (await channel.get_queue(QUEUE, ensure=False)).purge()
    finally:
        await connection.close()


async def run(
    url: str, count: int, window: int, prefetch: int, budget_seconds: float
) -> tuple[int, list[tuple[str, float, float | None]]]:
    """The count used and rows of (figure, messages per second, ratio to bare aio-pika or None)."""
    bus = RabbitBus(url, topology=build_topology(), connection_name="bench")
    await bus.start()
    try:
        warm_up = min(count, 500)  # also warms the queue leader and the code paths
        rate = warm_up / await _bus_publish(bus, warm_up, window)
        await _purge(url)
        # four figures, the two end-to-end ones at roughly half the publish rate: about 6 count/rate
        count = max(min(count, int(budget_seconds * rate / 6)), min(count, MIN_COUNT))
        bare_pub = count / await _bare_publish(url, count, window)
        await _purge(url)
        bus_pub = count / await _bus_publish(bus, count, window)
        await _purge(url)
        bare_e2e = count / await _bare_end_to_end(url, count, window, prefetch)
        bus_e2e = count / await _bus_end_to_end(bus, count, window, prefetch)
    finally:
        await bus.close()
    return count, [
        ("bare aio-pika publish, confirms", bare_pub, None),
        ("RabbitBus.publish, confirms", bus_pub, bus_pub / bare_pub),
        ("bare aio-pika publish + consume", bare_e2e, None),
        ("RabbitBus publish + consume", bus_e2e, bus_e2e / bare_e2e),
    ]


def main(argv: list[str] | None = None) -> None:
    """Measure and print the bus rates against bare aio-pika in a temporary vhost."""
    parser = argparse.ArgumentParser(prog="python -m bench.bus", description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5_000, help="messages per figure (default 5000)")
    parser.add_argument("--window", type=int, default=100, help="publishes in flight (default 100)")
    parser.add_argument("--prefetch", type=int, default=100, help="consumer prefetch (default 100)")
    parser.add_argument(
        "--budget",
        type=float,
        default=30.0,
        help="seconds the measurements may take; a slow broker gets a smaller count (default 30)",
    )
    parser.add_argument("--url-base", default="amqp://guest:guest@127.0.0.1:5672", help="broker URL without the vhost")
    args = parser.parse_args(argv)
    if not 1 <= args.count <= 100_000:
        parser.error("--count must be between 1 and 100000")
    if shutil.which("rabbitmqctl") is None:
        raise SystemExit("bench.bus needs rabbitmqctl to make its temporary vhost")

    began = time.perf_counter()
    vhost = f"mcbench-{uuid.uuid4().hex[:8]}"
    try:
        _ctl("add_vhost", vhost)
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"bench.bus cannot make its vhost (is RabbitMQ running?): {exc.stderr!r}") from None
    try:
        _ctl("set_permissions", "--vhost", vhost, "guest", ".*", ".*", ".*")
        count, rows = asyncio.run(run(f"{args.url_base}/{vhost}", args.count, args.window, args.prefetch, args.budget))
    finally:
        _ctl("delete_vhost", vhost)

    size = len(_envelope(count).to_bytes())
    scaled = "" if count == args.count else f" (scaled down from {args.count} to fit --budget)"
    print(
        f"bus: {count} messages{scaled} of ~{size} bytes to quorum queue {QUEUE}, "
        f"{args.window} publishes in flight, prefetch {args.prefetch}"
    )
    print(f"{'figure':<36}{'msg/s':>10}  {'vs bare aio-pika':>16}")
    for name, rate, ratio in rows:
        print(f"{name:<36}{rate:>10,.0f}  {'' if ratio is None else f'{ratio:.2f}x':>16}")
    print(f"(whole run, vhost setup included: {time.perf_counter() - began:.1f} s)")


if __name__ == "__main__":
    main()
