"""The gateway's errors are answered in the envelope every MediaCraft HTTP service shares
(`mediacraft.shared.http`: the stable codes and their statuses, ApiError, the body, the handlers);
the gateway's modules import ApiError and `sentence` from here."""

from __future__ import annotations

from mediacraft.shared.http.envelope import ApiError, sentence

__all__ = ["ApiError", "sentence"]
