"""Feedback (POST /v1/feedback): the true outcome of a prediction."""

from __future__ import annotations

from fastapi import APIRouter, status

from pulse_ray.api.deps import AppStateDep, WriteKey
from pulse_ray.api.middleware.body import JsonBodyRoute
from pulse_ray.api.openapi import error_responses
from pulse_ray.schemas.feedback import FeedbackCreate, FeedbackPublic

router = APIRouter(tags=["feedback"], route_class=JsonBodyRoute)


@router.post("/feedback", status_code=status.HTTP_201_CREATED, response_model=FeedbackPublic,
             responses=error_responses(404, 409),
             summary="Record the true outcome of a prediction (once per inference)")
async def feedback(body: FeedbackCreate, principal: WriteKey,
                   state: AppStateDep) -> FeedbackPublic:
    """The label is checked against the type of the model's label column; a second
    outcome for the same inference is a 409 (outcomes are recorded once, not revised).
    The inference's lineage shows it."""
    return await state.feedback.record(principal, body)
