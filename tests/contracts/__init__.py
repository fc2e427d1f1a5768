"""Abstract contract suites, one per port; adapter test modules subclass them."""

import pytest

pytest.register_assert_rewrite("tests.contracts")
