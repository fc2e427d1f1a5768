"""The gateway's errors are answered in the envelope every MediaCraft HTTP service shares
(`mediacraft.shared.http.envelope`: the stable codes, ApiError, the body); imported from here by the
gateway's modules."""

from __future__ import annotations

from mediacraft.shared.http.asgi import EnvelopeResponse, error_response
from mediacraft.shared.http.envelope import STATUS_OF_CODE, ApiError, from_domain, sentence

__all__ = ["STATUS_OF_CODE", "ApiError", "EnvelopeResponse", "error_response", "from_domain", "sentence"]
