"""The one request validation (SPEC section 3): every range, and the seek check."""

from __future__ import annotations

import pytest

from mastering_service.request import (
    MAX_CHUNK_FRAMES,
    MAX_FINGERPRINT_TIMEOUT_MS,
    MasterRequest,
    check_seek,
    validate,
)
from shared.errors import InvalidArgument, SeekOutOfRange


@pytest.mark.parametrize(
    ("field", "value"),
    [("target_lufs", -41.0), ("target_lufs", -4.0), ("true_peak_ceiling_dbtp", 0.5),
     ("true_peak_ceiling_dbtp", -9.5), ("intensity", 1.5), ("intensity", float("nan"))],
)
def test_out_of_range_request_parameters_are_invalid_arguments(field: str, value: float) -> None:
    with pytest.raises(InvalidArgument, match=field):
        validate(MasterRequest(**{field: value}))


@pytest.mark.parametrize(
    ("field", "value"),
    [("encoding", "s8"), ("container", "mp4"), ("start_s", -0.5), ("start_s", float("inf")),
     ("chunk_frames", MAX_CHUNK_FRAMES + 1), ("fingerprint_timeout_ms",
                                              MAX_FINGERPRINT_TIMEOUT_MS + 1)],
)
def test_other_out_of_range_fields_are_invalid_arguments_naming_the_field(
    field: str, value: object
) -> None:
    with pytest.raises(InvalidArgument, match=field):
        validate(MasterRequest(**{field: value}))  # type: ignore[arg-type]


def test_the_defaults_are_valid() -> None:
    validate(MasterRequest())


def test_range_message_names_the_allowed_range_and_unit() -> None:
    with pytest.raises(InvalidArgument, match=r"target_lufs must be between -40 and -5 LUFS"):
        validate(MasterRequest(target_lufs=-3.0))


def test_seek_at_or_beyond_the_end_is_out_of_range_naming_the_duration() -> None:
    assert check_seek(0.5, 1000, 1000) == 500
    with pytest.raises(SeekOutOfRange, match=r"duration 1\.000 s"):
        check_seek(1.0, 1000, 1000)
