from __future__ import annotations

import pydantic
import pytest

from pulse_ray.errors import (
    ErrorDetail,
    NotFoundError,
    PulseError,
    RateLimitedError,
    UnauthorizedError,
    UnavailableError,
    ValidationError,
    from_envelope,
)


def test_envelope_has_code_message_and_field_details() -> None:
    error = ValidationError(details=[ErrorDetail("transaction_amount",
                                                 "must be a positive number")])
    assert error.http_status == 400
    assert error.to_envelope() == {
        "error": {
            "code": "VALIDATION_ERROR",
            "message": "Input validation failed",
            "details": [{"field": "transaction_amount",
                         "message": "must be a positive number"}],
        }
    }


def test_unauthorized_carries_www_authenticate() -> None:
    assert UnauthorizedError().headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("seconds", "header"), [(0.2, "1"), (1, "1"), (2.5, "3"), (-4, "0")])
def test_retry_after_is_whole_seconds_rounded_up(seconds: float, header: str) -> None:
    assert UnavailableError(retry_after_s=seconds).headers["Retry-After"] == header


def test_from_envelope_rebuilds_the_same_class_with_details_and_retry_after() -> None:
    original = RateLimitedError("slow down", retry_after_s=7)
    rebuilt = from_envelope(429, original.to_envelope(), {"retry-after": "7"})
    assert isinstance(rebuilt, RateLimitedError)
    assert (rebuilt.message, rebuilt.retry_after_s) == ("slow down", 7)
    nf = from_envelope(404, NotFoundError("gone", details=[ErrorDetail("id", "x")]).to_envelope())
    assert isinstance(nf, NotFoundError) and nf.details == (ErrorDetail("id", "x"),)


def test_from_envelope_without_envelope_falls_back_on_status() -> None:
    error = from_envelope(503, "Service Unavailable")
    assert isinstance(error, UnavailableError)
    assert isinstance(from_envelope(418, None), PulseError)


class _Body(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    class Input(pydantic.BaseModel):
        transaction_amount: float

    input: Input


def test_from_pydantic_names_each_field_by_dotted_path() -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        _Body.model_validate({"input": {"transaction_amount": "lots"}, "extra": 1})
    error = ValidationError.from_pydantic(caught.value.errors())
    fields = {d.field: d.message for d in error.details}
    assert set(fields) == {"input.transaction_amount", "extra"}
    assert fields["extra"] == "is not a recognised field"


def test_from_pydantic_drops_the_location_head_and_reports_bad_json() -> None:
    error = ValidationError.from_pydantic(
        [{"type": "missing", "loc": ("body", "input", "merchant"), "msg": "Field required"}]
    )
    assert error.details == (ErrorDetail("input.merchant", "is required"),)
    bad_json = ValidationError.from_pydantic(
        [{"type": "json_invalid", "loc": ("body", 9), "ctx": {"error": "Expecting value"}}]
    )
    assert bad_json.message == "Malformed JSON body: Expecting value at character 9"
    assert bad_json.details[0].field == "body"
