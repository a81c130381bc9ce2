"""E-commerce (seed 002): POST /v1/infer, products and their tags, conversions."""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from pulse_ray.api.deps import AppStateDep, ReadKey, RequestContextDep, WriteKey
from pulse_ray.api.middleware.body import JsonBodyRoute
from pulse_ray.api.openapi import error_responses
from pulse_ray.schemas.common import ErrorEnvelope
from pulse_ray.schemas.shop import (
    ConversionCreate,
    ConversionPublic,
    ProductPublic,
    SessionInferRequest,
    SessionInferResponse,
    TaggingJobPublic,
    TagRequest,
    TagResult,
)
from pulse_ray.store import shop as repo
from pulse_ray.store import tagging_jobs

router = APIRouter(tags=["e-commerce"], route_class=JsonBodyRoute)


@router.post("/infer", response_model=SessionInferResponse,
             responses=error_responses(404),  # no persona model (shop_persona_model) yet
             summary="A live shopper session's persona and re-ranked recommendations")
async def infer_session(body: SessionInferRequest, principal: ReadKey, state: AppStateDep,
                        context: RequestContextDep) -> SessionInferResponse:
    result = await state.shop.infer(principal, body)
    # The persona model that answered, for request metrics (as /v1/infer/{model} does).
    context.served(result.metadata.model, result.metadata.model_version)
    return result


@router.post(
    "/products/tag", response_model=TagResult,
    responses={202: {"model": TaggingJobPublic,
                     "description": "More than shop_tag_sync_max products: accepted, tagged "
                     "in the background; products.tagged announces the end."},
               400: {"model": ErrorEnvelope}},
    summary="Upsert products and give them Digital Twin tags")
async def tag_products(body: TagRequest, principal: WriteKey,
                       state: AppStateDep) -> TagResult | JSONResponse:
    if len(body.products) > state.settings.shop_tag_sync_max:
        job = (await state.tagging.start_job(principal, body.products)).public()
        return JSONResponse(job.model_dump(mode="json"), status_code=status.HTTP_202_ACCEPTED)
    rows = await state.tagging.tag_now(principal, body.products)
    return TagResult(data=[row.public() for row in rows])


@router.get("/products/tag/{job_id}", response_model=TaggingJobPublic,
            summary="A background tagging job")
async def get_tagging_job(job_id: str, principal: ReadKey,
                          state: AppStateDep) -> TaggingJobPublic:
    def get() -> TaggingJobPublic:
        with state.database.session() as session:
            return tagging_jobs.get_job(session=session, account=principal.account,
                                        job_id=job_id).public()

    return await run_in_threadpool(get)


@router.get("/products/{product_id}", response_model=ProductPublic,
            summary="A product and its tags")
async def get_product(product_id: str, principal: ReadKey, state: AppStateDep) -> ProductPublic:
    def get() -> ProductPublic:
        with state.database.session() as session:
            return repo.get_product(session=session, account=principal.account,
                                    product_id=product_id).public()

    return await run_in_threadpool(get)


@router.post("/conversions", response_model=ConversionPublic,
             status_code=status.HTTP_201_CREATED,
             summary="Record a purchase and attribute it to the recommendation behind it")
async def create_conversion(body: ConversionCreate, principal: WriteKey,
                            state: AppStateDep) -> ConversionPublic:
    return await state.shop.convert(principal, body)
