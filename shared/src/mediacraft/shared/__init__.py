"""MediaCraft shared package: contracts, ports and adapters used by every service."""
