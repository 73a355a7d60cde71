"""The image tier runs only when asked for by marker (``-m images``, as ``make test-images``
does): it needs root, podman and minutes of building, so ``make test`` leaves it out."""

from __future__ import annotations

import pytest

from tests.images.containers import build_images


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "images" in (config.option.markexpr or ""):
        return
    left_out = [item for item in items if item.get_closest_marker("images")]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if not item.get_closest_marker("images")]


@pytest.fixture(scope="session")
def images_built() -> None:
    """Both images, built by ``make images`` with podman (cached: quick when nothing changed)."""
    build_images()
