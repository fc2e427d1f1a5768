"""Bus handlers of identity.inbox (`user.*` events)."""

from __future__ import annotations

from mediacraft.identity.service import IdentityService
from mediacraft.shared.messages import UserCreated, UserSeen
from mediacraft.shared.ports.bus import Bus, Incoming, Subscription
from mediacraft.shared.topology import IDENTITY_INBOX


async def on_user_seen(event: UserSeen, *, service: IdentityService) -> None:
    """Record last-seen (throttled)."""
    await service.record_seen(event.user_id, event.at)


async def on_user_created(event: UserCreated, *, service: IdentityService) -> None:
    """Make sure the record exists (it does when this replica minted it)."""
    await service.ensure(event.user_id)


HANDLERS = {UserSeen: on_user_seen, UserCreated: on_user_created}


async def subscribe(bus: Bus, service: IdentityService, *, prefetch: int = 50) -> Subscription:
    """Consume identity.inbox with the handlers above; other message types are acked and ignored."""

    async def handle(incoming: Incoming) -> None:
        message = incoming.envelope.open()
        handler = HANDLERS.get(type(message))
        if handler is not None:
            await handler(message, service=service)  # type: ignore[operator]

    return await bus.consume(IDENTITY_INBOX, handle, prefetch=prefetch)
