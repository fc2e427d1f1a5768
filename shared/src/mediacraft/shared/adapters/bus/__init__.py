"""Bus adapters: `memory` (in process, RabbitMQ's semantics) and `rabbitmq` (aio-pika).

Both follow the port's outcome rules through `outcomes`, route like RabbitMQ through `routing`, and
offer the bytes-level `publish_raw` and `get` of `raw` beside the port. Importing this package
imports no broker client; `factory.make_bus` picks the adapter by URL.
"""

from mediacraft.shared.adapters.bus.raw import RawMessage

__all__ = ["RawMessage"]
