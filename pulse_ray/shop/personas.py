"""The shopper personas and their psychographic axes (seed 002).

A persona is a named point on four axes — price sensitivity, brand loyalty,
social-proof reliance, purchase intent — plus a description that the text model
embeds: products are tagged by how close their text sits to each description, so
products and shoppers are described on the same axes and can be matched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["AXES", "PERSONAS", "PERSONA_NAMES", "Axis", "Level", "Persona", "persona",
           "purchased_persona"]

Axis = Literal["price_sensitivity", "brand_loyalty", "social_proof_reliance", "purchase_intent"]
Level = str  # low | medium | high, or for purchase_intent: browsing | exploring | active

AXES: tuple[Axis, ...] = (
    "price_sensitivity", "brand_loyalty", "social_proof_reliance", "purchase_intent",
)


@dataclass(frozen=True, slots=True)
class Persona:
    name: str
    description: str
    attributes: dict[Axis, Level]


PERSONAS: tuple[Persona, ...] = (
    Persona(
        "value_conscious_runner",
        "affordable running shoes and gear at a good price, budget value deals for "
        "runners, well reviewed and highly rated",
        {"price_sensitivity": "high", "brand_loyalty": "low",
         "social_proof_reliance": "high", "purchase_intent": "active"},
    ),
    Persona(
        "performance_athlete",
        "premium professional performance equipment for serious athletes, carbon "
        "plate racing, elite training technology",
        {"price_sensitivity": "low", "brand_loyalty": "medium",
         "social_proof_reliance": "low", "purchase_intent": "active"},
    ),
    Persona(
        "trend_seeker",
        "trending viral streetwear and fashion, popular styles everyone is wearing, "
        "new drops and limited collaborations",
        {"price_sensitivity": "medium", "brand_loyalty": "low",
         "social_proof_reliance": "high", "purchase_intent": "exploring"},
    ),
    Persona(
        "brand_loyalist",
        "signature collection from an iconic heritage brand, authentic original "
        "classic models loved by fans of the label",
        {"price_sensitivity": "low", "brand_loyalty": "high",
         "social_proof_reliance": "medium", "purchase_intent": "active"},
    ),
    Persona(
        "deal_hunter",
        "clearance sale, discount bundle, lowest price bargains and coupons, "
        "cheap multipack value",
        {"price_sensitivity": "high", "brand_loyalty": "low",
         "social_proof_reliance": "medium", "purchase_intent": "browsing"},
    ),
    Persona(
        "gift_shopper",
        "thoughtful gift set ready to give, gift box for a birthday or holiday, "
        "presents for him and her",
        {"price_sensitivity": "medium", "brand_loyalty": "medium",
         "social_proof_reliance": "high", "purchase_intent": "active"},
    ),
)

PERSONA_NAMES: tuple[str, ...] = tuple(p.name for p in PERSONAS)
_BY_NAME = {p.name: p for p in PERSONAS}


def persona(name: str) -> Persona:
    """The persona called ``name`` (KeyError for one Pulse does not know)."""
    return _BY_NAME[name]


def purchased_persona(tags: dict[str, Any]) -> str | None:
    """The persona a purchase of a product with these tags speaks for: the one the
    product suits best (its tags list every persona, best suited first). A shop sees who
    buys, never who the shopper is, so this is the outcome its persona predictions are
    scored and retrained on; None for tags that name no persona Pulse knows."""
    ranked = tags.get("personas") or [{}]
    best = ranked[0].get("persona")
    return best if best in _BY_NAME else None
