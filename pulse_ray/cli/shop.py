"""`pulse products` and `pulse session`: e-commerce (seed 002) through the service."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from pulse_ray.cli import service
from pulse_ray.cli.output import JsonOption, out_console, print_json, table
from pulse_ray.errors import ValidationError
from pulse_ray.schemas.shop import ProductPublic, TaggingJobPublic

products_app = typer.Typer(help="Tag products with Digital Twin attributes; look them up.",
                           no_args_is_help=True)

JsonInput = Annotated[str, typer.Argument(
    metavar="JSON", help="A JSON object inline, @file.json, or - (stdin).")]


def _table(products: list[ProductPublic]) -> None:
    table("Products", ["id", "name", "price", "tier", "best suited", "attributes"], [
        (p.id, p.name, f"{p.price:g}", p.tags.price_tier,
         f"{p.tags.personas[0].persona} ({p.tags.personas[0].score:.2f})",
         ", ".join(f"{k}={v}" for k, v in p.tags.attributes.items())) for p in products])


def _job_line(job: TaggingJobPublic) -> str:
    return f"{job.id} {job.status}: {job.tagged}/{job.total} tagged" + (
        f" ({job.error})" if job.error else "")


@products_app.command()
def tag(
    body: JsonInput,
    wait: Annotated[bool, typer.Option(
        help="For a large request (tagged in the background): wait for the job.")] = True,
    json_output: JsonOption = False,
) -> None:
    """Upsert and tag products: {"products": [{id, name, description, price, category,
    image_url, rating}, ...]}."""
    products = service.json_argument(body, field="products").get("products")
    if not isinstance(products, list):
        raise ValidationError.for_field("products", "must be a list of products")
    with service.client() as client:
        result = client.tag_products(products)
        if isinstance(result, TaggingJobPublic):
            job = result
            with out_console.status(_job_line(job)) as status:
                while wait and job.status in ("queued", "running"):
                    time.sleep(1)
                    job = client.get_tagging_job(job.id)
                    status.update(_job_line(job))
            if json_output:
                print_json(job)
            else:
                out_console.print(_job_line(job), highlight=False)
            if job.status == "failed":
                raise typer.Exit(1)
            return
    if json_output:
        print_json(result.data)
    else:
        _table(result.data)


@products_app.command()
def get(product_id: Annotated[str, typer.Argument(help="The prod_… id.")],
        json_output: JsonOption = False) -> None:
    """A product and its tags."""
    with service.client() as client:
        product = client.get_product(product_id)
    if json_output:
        print_json(product)
    else:
        _table([product])


def session(body: JsonInput, json_output: JsonOption = False) -> None:
    """A shopper session's persona and recommendations (the seed's POST /v1/infer body)."""
    with service.client() as client:
        result = client.infer_session(service.json_argument(body, field="session"))
    if json_output:
        print_json(result)
        return
    persona = result.persona
    out_console.print(
        f"{result.id} {result.session_id}: {persona.primary} ({persona.confidence:.2f}) "
        f"by {result.metadata.model} {result.metadata.model_version}, "
        f"{result.metadata.inference_time_ms:.1f} ms", highlight=False)
    out_console.print("  " + ", ".join(f"{k}={v}" for k, v in persona.attributes.items()),
                      highlight=False)
    recs = result.recommendations
    for product_id, score in zip(recs.product_ids, recs.rerank_scores, strict=True):
        out_console.print(f"  {score:.3f} {product_id}", highlight=False)
