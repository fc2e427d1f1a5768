"""What every MediaCraft service that answers HTTP shares: the response envelope (`envelope`, pure)
and its Starlette/FastAPI side (`asgi`, needs the `http` extra)."""
