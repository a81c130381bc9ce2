"""E-commerce resources on the wire (seed 002): products and their tags, the shopper
session inference, tagging jobs and conversions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from pulse_ray.schemas.feedback import FeedbackPublic
from pulse_ray.shop.filters import check_filter, parse_filters
from pulse_ray.timeutil import Timestamp

__all__ = [
    "ConversionCreate",
    "ConversionPublic",
    "Persona",
    "ProductIn",
    "ProductPublic",
    "ProductTags",
    "Recommendations",
    "SessionInferRequest",
    "SessionInferResponse",
    "TagRequest",
    "TagResult",
    "TaggingJobPublic",
]

ProductId = Annotated[str, Field(pattern=r"^prod_[A-Za-z0-9_\-]{1,95}$",
                                 examples=["prod_123"])]
SessionId = Annotated[str, Field(pattern=r"^sess_[A-Za-z0-9_\-]{1,95}$",
                                 examples=["sess_abc123"])]
_Short = Annotated[str, Field(min_length=1, max_length=64)]
Filter = Annotated[str, Field(max_length=300), AfterValidator(check_filter)]


class ProductIn(BaseModel):
    """A product to tag (and to recommend from then on); the id is the shop's own."""

    model_config = ConfigDict(extra="forbid")

    id: ProductId
    name: str = Field(min_length=1, max_length=500, examples=["Performance Running Shoe"])
    description: str | None = Field(default=None, max_length=5000,
                                    examples=["Lightweight cushioned..."])
    price: float = Field(ge=0, allow_inf_nan=False, examples=[129.99])
    category: str = Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9][A-Za-z0-9 _&\-/]*$",
                          examples=["footwear/running"],
                          description="A path; filters on a parent match its children.")
    image_url: str | None = Field(default=None, max_length=2048, pattern=r"^https?://\S+$")
    rating: float | None = Field(default=None, ge=0, le=5, allow_inf_nan=False,
                                 description="Average review rating, 0 to 5 (rating:N+ filters).")

    @field_validator("category")
    @classmethod
    def _normalise(cls, value: str) -> str:
        return "/".join(part.strip() for part in value.lower().split("/") if part.strip())


class TagRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    products: list[ProductIn] = Field(min_length=1)

    @field_validator("products")
    @classmethod
    def _unique(cls, products: list[ProductIn]) -> list[ProductIn]:
        seen: dict[str, int] = {}
        for index, product in enumerate(products):
            if product.id in seen:
                raise ValueError(f"products.{index}.id repeats products.{seen[product.id]}.id "
                                 f"('{product.id}')")
            seen[product.id] = index
        return products


class PersonaScore(BaseModel):
    persona: str
    score: float


class ProductTags(BaseModel):
    attributes: dict[str, str] = Field(
        examples=[{"price_sensitivity": "high", "brand_loyalty": "low",
                   "social_proof_reliance": "high", "purchase_intent": "active"}],
        description="Where the product sits on the persona axes.")
    attribute_scores: dict[str, float]
    personas: list[PersonaScore] = Field(description="Every persona, best suited first.")
    price_tier: Literal["budget", "mid", "premium", "luxury"]
    facets: dict[str, Any]
    model: str = Field(description="The tagger that made these tags.")


class ProductPublic(BaseModel):
    id: str
    name: str
    description: str | None
    price: float
    category: str
    image_url: str | None
    rating: float | None
    tags: ProductTags
    tagged_at: Timestamp


class TagResult(BaseModel):
    """A small request, tagged at once."""

    object: Literal["list"] = "list"
    data: list[ProductPublic]


class TaggingJobPublic(BaseModel):
    """A large request, tagged in the background; ``products.tagged`` announces the end."""

    id: str = Field(examples=["tagjob_2x4..."])
    object: Literal["tagging_job"] = "tagging_job"
    status: Literal["queued", "running", "succeeded", "failed"]
    total: int
    tagged: int
    error: str | None = None
    created_at: Timestamp
    completed_at: Timestamp | None = None


class Geo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    country: str | None = Field(default=None, pattern=r"^[A-Za-z]{2}$", examples=["US"])
    region: str | None = Field(default=None, max_length=64, examples=["CA"])


class SessionContext(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device: _Short | None = Field(default=None, examples=["mobile"])
    browser: _Short | None = Field(default=None, examples=["safari"])
    referrer: str | None = Field(default=None, max_length=2048, examples=["instagram.com"])
    geo: Geo | None = None
    time: datetime | None = Field(default=None, examples=["2025-01-14T23:30:00Z"],
                                  description="RFC 3339 with a zone.")

    @field_validator("time")
    @classmethod
    def _zoned(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must carry a time zone, e.g. 2025-01-14T23:30:00Z")
        return value


class SessionBehavior(BaseModel):
    model_config = ConfigDict(extra="forbid")

    search_query: str | None = Field(default=None, max_length=500,
                                     examples=["running shoes under 100"])
    filters: list[Filter] = Field(default_factory=list, max_length=20,
                                  examples=[["price:0-100", "rating:4+"]])
    viewed_products: list[ProductId] = Field(default_factory=list, max_length=200,
                                             examples=[["prod_123", "prod_456"]])
    dwell_time_ms: int | None = Field(default=None, ge=0, examples=[45000])

    @field_validator("filters")
    @classmethod
    def _compatible(cls, filters: list[str]) -> list[str]:
        parse_filters(filters)  # each is valid alone; together they must admit something
        return filters


class SessionInferOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=10, ge=1, le=100, description="How many recommendations.")
    version: str | None = Field(default=None, description="Pin a persona model version.")


class SessionInferRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session_id: SessionId
    context: SessionContext = Field(default_factory=SessionContext)
    behavior: SessionBehavior = Field(default_factory=SessionBehavior)
    options: SessionInferOptions = Field(default_factory=SessionInferOptions)


class Persona(BaseModel):
    primary: str = Field(examples=["value_conscious_runner"])
    confidence: float = Field(examples=[0.89])
    attributes: dict[str, str]


class Recommendations(BaseModel):
    product_ids: list[str] = Field(examples=[["prod_789", "prod_012", "prod_345"]])
    rerank_scores: list[float] = Field(examples=[[0.94, 0.91, 0.87]])


class SessionInferMetadata(BaseModel):
    inference_time_ms: float = Field(examples=[32])
    model_version: str = Field(examples=["1.0.0-def456"])
    model: str = Field(examples=["shopper-persona"])


class SessionInferResponse(BaseModel):
    id: str = Field(examples=["inf_abc123"], description="For lineage and conversions.")
    session_id: str
    persona: Persona
    recommendations: Recommendations
    metadata: SessionInferMetadata


class ConversionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session_id: SessionId
    product_id: ProductId
    value: float = Field(ge=0, allow_inf_nan=False, examples=[89.99])
    currency: str = Field(pattern=r"^[A-Z]{3}$", examples=["USD"],
                          description="ISO 4217, upper case.")
    inference_id: str | None = Field(
        default=None, max_length=40, pattern=r"^inf_[0-9A-Za-z]{22}$",
        description="The inference that recommended it; default: the session's latest "
        "inference that recommended this product.")


class ConversionModel(BaseModel):
    name: str
    version: str


class ConversionPublic(BaseModel):
    id: str = Field(examples=["conv_2x4..."])
    session_id: str
    product_id: str
    value: float
    currency: str
    attributed: bool = Field(description="Whether a Pulse recommendation led to it.")
    inference_id: str | None
    model: ConversionModel | None
    created_at: Timestamp
    feedback: FeedbackPublic | None = Field(
        default=None,
        description="The persona label this purchase recorded as the outcome of the "
        "session's persona inference (the purchased product's best-suited persona), if it "
        "recorded one.")
