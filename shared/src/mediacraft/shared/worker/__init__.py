"""The worker runtime shared by every worker service, and the contract its processors follow."""
