"""Generation providers behind one port, chosen by MEDIACRAFT_GENERATE_PROVIDER."""

from __future__ import annotations

from mediacraft.worker_generate.providers.base import (
    GeneratedFile,
    Generation,
    GenerationProvider,
    GenerationRequest,
)

__all__ = ["GeneratedFile", "Generation", "GenerationProvider", "GenerationRequest"]
