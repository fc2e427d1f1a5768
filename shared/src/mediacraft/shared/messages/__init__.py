"""Messages: the versioned envelope, the type registry and the catalogue of the task lifecycle."""

from mediacraft.shared.messages.catalogue import *  # noqa: F403
from mediacraft.shared.messages.catalogue import __all__ as _catalogue
from mediacraft.shared.messages.envelope import Envelope, Message, registry, upcaster
from mediacraft.shared.messages.operator import ApplyQuotas, PrioritiseTask

__all__ = ["ApplyQuotas", "Envelope", "Message", "PrioritiseTask", "registry", "upcaster", *_catalogue]
