"""Task and user store adapters: `sqlite` (embedded, aiosqlite) and `mongo` (motor).

Import the module you need (or use `adapters.factory.make_store`): importing this package loads
neither driver.
"""
