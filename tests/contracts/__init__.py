"""Abstract contract suites, one per port; adapter test modules subclass them."""
