"""Messages: the versioned envelope, the type registry and the catalogue of the task lifecycle."""

from mediacraft.shared.messages.envelope import Envelope, Message, registry, upcaster
from mediacraft.shared.messages.catalogue import *  # noqa: F401,F403
from mediacraft.shared.messages.catalogue import __all__ as _catalogue

__all__ = ["Envelope", "Message", "registry", "upcaster", *_catalogue]
