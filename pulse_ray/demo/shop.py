"""Demo data for the e-commerce flow: a catalog, shopper sessions with known
personas, and the purchase each session ended with.

Each product is written for one persona (its words, category and price band), with
some products borrowing another persona's phrase. Each session comes from a persona:
it picks a category that persona shops, searches for it in that persona's words
(a quarter of the time another's), filters as that persona does, views a few
products (a third of them off any shelf) and buys a popular one that fits its
filters. Nothing in a session names its persona: a model has to read it from the
device, referrer, hour, words, filters and viewed products.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import numpy as np

from pulse_ray.shop.filters import Filters, parse_filters
from pulse_ray.shop.personas import PERSONA_NAMES

__all__ = ["BLACK_FRIDAY", "PERSONA_MIX", "DemoProduct", "DemoSession", "Shift", "Style",
           "catalog", "sessions"]

_BRANDS = ("Stride", "Apex", "Nimbus", "Kestrel", "Urbanix", "Vela", "Loop", "Summit",
           "Ember", "Northway")
_NOUNS = {
    "footwear/running": ("Running Shoe", "Road Runner", "Racing Flat"),
    "footwear/trail": ("Trail Shoe", "Trail Runner"),
    "footwear/sneakers": ("Sneaker", "High-Top", "Low-Top Sneaker"),
    "footwear/casual": ("Loafer", "Slip-On", "Canvas Shoe"),
    "apparel/activewear": ("Running Tee", "Leggings", "Training Shorts", "Sports Socks"),
    "apparel/streetwear": ("Hoodie", "Graphic Tee", "Cargo Pants"),
    "apparel/outerwear": ("Jacket", "Windbreaker", "Parka"),
    "accessories/bags": ("Backpack", "Duffel Bag", "Tote"),
    "accessories/watches": ("Watch", "Chronograph"),
    "electronics/wearables": ("GPS Watch", "Heart Rate Strap", "Fitness Tracker"),
    "home/fitness": ("Yoga Mat", "Dumbbell Set", "Foam Roller"),
    "gifts/sets": ("Gift Set", "Gift Box"),
    "beauty/skincare": ("Skincare Kit", "Recovery Balm"),
}


@dataclass(frozen=True, slots=True)
class Style:
    """How one persona's products read and how its shoppers behave."""

    adjectives: tuple[str, ...]
    phrases: tuple[str, ...]
    categories: tuple[str, ...]
    price: tuple[float, float]  # lognormal mean of log(price), sigma
    rating: float  # mean rating
    queries: tuple[str, ...]  # {noun} is the category's noun
    devices: tuple[float, float, float]  # mobile, desktop, tablet
    referrers: tuple[str, ...]
    hours: tuple[int, int]  # peak hour, spread
    filters: tuple[tuple[str, float], ...]  # (filter, probability); {category} allowed
    dwell: float  # mean log(dwell ms)


_STYLES: dict[str, Style] = {
    "value_conscious_runner": Style(
        ("Everyday", "Value", "Essential", "Daily"),
        ("great value for runners on a budget", "affordable cushioning for daily miles",
         "highly rated by runners and easy on the wallet", "durable and well reviewed"),
        ("footwear/running", "apparel/activewear", "footwear/trail"),
        (np.log(60), 0.35), 4.5,
        ("running shoes under 100", "cheap {noun}", "best rated {noun}", "affordable {noun}"),
        (0.7, 0.25, 0.05), ("instagram.com", "google.com", "google.com", "reddit.com"),
        (7, 3), (("price:0-100", 0.6), ("rating:4+", 0.5)), 10.3),
    "performance_athlete": Style(
        ("Pro", "Elite", "Carbon", "Race"),
        ("carbon plate propulsion for race day", "elite performance engineering",
         "pro-grade training technology for serious athletes"),
        ("footwear/running", "footwear/trail", "electronics/wearables", "home/fitness"),
        (np.log(220), 0.35), 4.3,
        ("carbon racing {noun}", "pro {noun} for marathon training", "elite {noun}"),
        (0.3, 0.65, 0.05), ("google.com", "", "strava.com", "youtube.com"),
        (6, 2), (("rating:4+", 0.2), ("price:100+", 0.2)), 11.2),
    "trend_seeker": Style(
        ("Viral", "Drop", "Street", "Collab"),
        ("the trending style everyone is wearing", "limited collaboration drop",
         "streetwear favourite all over social media"),
        ("footwear/sneakers", "apparel/streetwear", "accessories/bags"),
        (np.log(110), 0.4), 4.1,
        ("trending {noun}", "viral {noun}", "new drop {noun}", "{noun} everyone is wearing"),
        (0.85, 0.1, 0.05), ("tiktok.com", "instagram.com", "instagram.com", "pinterest.com"),
        (21, 3), (("category:{category}", 0.3),), 10.0),
    "brand_loyalist": Style(
        ("Heritage", "Signature", "Original", "Classic"),
        ("iconic signature model from the heritage line", "authentic original since 1978",
         "the classic that fans of the label love"),
        ("footwear/sneakers", "footwear/casual", "apparel/outerwear", "accessories/watches"),
        (np.log(160), 0.3), 4.4,
        ("{brand} classic {noun}", "{brand} original {noun}", "{brand} signature {noun}"),
        (0.45, 0.5, 0.05), ("", "", "newsletter.mail.com", "google.com"),
        (12, 4), (("category:{category}", 0.3),), 10.6),
    "deal_hunter": Style(
        ("Clearance", "Multipack", "Outlet", "Bundle"),
        ("clearance price while stocks last", "discount multipack bundle",
         "lowest price outlet deal"),
        ("apparel/activewear", "footwear/casual", "accessories/bags", "home/fitness"),
        (np.log(25), 0.4), 3.9,
        ("{noun} sale", "clearance {noun}", "cheap {noun} deal", "{noun} discount"),
        (0.6, 0.35, 0.05), ("retailmenot.com", "slickdeals.net", "newsletter.mail.com",
                            "google.com"),
        (13, 3), (("price:0-50", 0.6),), 9.6),
    "gift_shopper": Style(
        ("Gift", "Deluxe", "Holiday", "Keepsake"),
        ("gift boxed and ready to give", "a thoughtful present for him or her",
         "holiday gift set"),
        ("gifts/sets", "beauty/skincare", "accessories/watches", "home/fitness"),
        (np.log(70), 0.4), 4.5,
        ("gift for him", "gift for her", "birthday {noun}", "{noun} gift idea"),
        (0.5, 0.4, 0.1), ("google.com", "pinterest.com", "facebook.com", ""),
        (19, 3), (("price:-150", 0.3), ("category:{category}", 0.2)), 10.4),
}
# Each persona's share of the sessions (in PERSONA_NAMES order), unless a Shift says
# otherwise.
PERSONA_MIX = (0.22, 0.13, 0.19, 0.13, 0.18, 0.15)


@dataclass(frozen=True, slots=True)
class Shift:
    """Another shop than the one a model was trained on (loadtests/bench_loop.py): each
    persona's share of the sessions, and the personas whose shoppers now behave
    differently (their products stay what they were)."""

    mix: tuple[float, ...] = PERSONA_MIX
    behaviour: Mapping[str, Style] = field(default_factory=dict)


# Black Friday week: deal hunters and gift shoppers are two thirds of the sessions, and
# gift shoppers shop the way deal hunters do — sale searches, deal-site referrers, the
# under-$50 filter, short visits at lunchtime — while still buying gifts. A model
# trained before it reads them as deal hunters; what they buy says otherwise.
BLACK_FRIDAY = Shift(
    mix=(0.15, 0.05, 0.10, 0.05, 0.30, 0.35),
    behaviour={"gift_shopper": replace(_STYLES["gift_shopper"], **{
        how: getattr(_STYLES["deal_hunter"], how)
        for how in ("queries", "referrers", "filters", "hours", "dwell")})},
)
_DEVICES = ("mobile", "desktop", "tablet")
_BROWSERS = {"mobile": ("safari", "chrome", "samsung"), "desktop": ("chrome", "firefox",
             "edge", "safari"), "tablet": ("safari", "chrome")}
_COUNTRIES = (("US", "CA"), ("US", "NY"), ("US", "TX"), ("GB", None), ("DE", None),
              ("FR", None), ("CA", "ON"), ("AU", None))
_COMMON_REFERRERS = ("google.com", "", "instagram.com", "facebook.com", "bing.com")
_EPOCH = datetime(2025, 1, 6, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class DemoProduct:
    id: str
    name: str
    description: str
    price: float
    category: str
    rating: float
    image_url: str
    persona: str  # the persona it was written for (never sent to Pulse)
    popularity: float


@dataclass(frozen=True, slots=True)
class DemoSession:
    """One shopper session: a seed-002 ``/v1/infer`` body, its persona and purchase."""

    session_id: str
    persona: str
    device: str | None
    browser: str | None
    referrer: str | None
    country: str | None
    region: str | None
    time: datetime | None
    query: str | None
    filters: tuple[str, ...]
    viewed: tuple[str, ...]
    dwell_ms: int | None
    purchased: str | None
    value: float | None

    @property
    def parsed_filters(self) -> Filters:
        return parse_filters(list(self.filters))

    def body(self) -> dict[str, object]:
        """The ``POST /v1/infer`` body, in the seed's shape."""
        geo = {"country": self.country, **({"region": self.region} if self.region else {})}
        return {
            "session_id": self.session_id,
            "context": {
                "device": self.device, "browser": self.browser, "referrer": self.referrer,
                "geo": geo if self.country else None,
                "time": self.time.isoformat().replace("+00:00", "Z") if self.time else None,
            },
            "behavior": {
                "search_query": self.query, "filters": list(self.filters),
                "viewed_products": list(self.viewed), "dwell_time_ms": self.dwell_ms,
            },
        }


def catalog(count: int = 5000, *, seed: int = 11) -> list[DemoProduct]:
    """``count`` products, the same for the same seed."""
    rng = np.random.default_rng(seed)
    products = []
    for i in range(count):
        persona = PERSONA_NAMES[i % len(PERSONA_NAMES)]
        style = _STYLES[persona]
        category = str(rng.choice(style.categories))
        brand = str(rng.choice(_BRANDS))
        noun = str(rng.choice(_NOUNS[category]))
        phrases = list(rng.choice(style.phrases, size=2, replace=False))
        if rng.random() < 0.2:  # borrowed words: tagging is not a lookup
            other = _STYLES[PERSONA_NAMES[int(rng.integers(len(PERSONA_NAMES)))]]
            phrases[1] = str(rng.choice(other.phrases))
        price = float(np.clip(rng.lognormal(*style.price), 5, 900))
        popularity = float(rng.pareto(1.6) + 0.05)
        rating = float(np.clip(rng.normal(style.rating + 0.1 * min(popularity, 3), 0.3), 1, 5))
        products.append(DemoProduct(
            id=f"prod_{i + 1:05d}",
            name=f"{brand} {rng.choice(style.adjectives)} {noun}",
            description=f"{phrases[0].capitalize()}. {phrases[1].capitalize()}. "
                        f"By {brand}, in several colours.",
            price=round(price, 2), category=category, rating=round(rating, 1),
            image_url=f"https://shop.example.com/img/{i + 1:05d}.jpg",
            persona=persona, popularity=popularity,
        ))
    return products


@dataclass(frozen=True, slots=True)
class _Shelf:
    """One persona's products of one category, as columns."""

    ids: list[str]
    prices: np.ndarray
    ratings: np.ndarray
    categories: np.ndarray
    log_popularity: np.ndarray

    @staticmethod
    def of(products: list[DemoProduct]) -> _Shelf:
        return _Shelf([p.id for p in products], np.array([p.price for p in products]),
                      np.array([p.rating for p in products]),
                      np.array([p.category for p in products], dtype=str),
                      np.log(np.array([p.popularity for p in products])))


def sessions(products: list[DemoProduct], count: int, *, seed: int = 5,
             shift: Shift = Shift()) -> list[DemoSession]:
    """``count`` sessions over ``products``, the same for the same seed and ``shift``
    (each persona's share, in ``PERSONA_NAMES`` order, and who behaves differently)."""
    mix = shift.mix
    if len(mix) != len(PERSONA_NAMES) or min(mix) < 0 or sum(mix) <= 0:
        raise ValueError(f"a persona mix is {len(PERSONA_NAMES)} non-negative shares, "
                         f"not {list(mix)}")
    weights = np.array(mix, dtype=np.float64) / sum(mix)
    rng = np.random.default_rng(seed)
    grouped: dict[tuple[str, str], list[DemoProduct]] = {}
    for product in products:
        grouped.setdefault((product.persona, product.category), []).append(product)
    shelves = {place: _Shelf.of(items) for place, items in grouped.items()}
    out = []
    for n in range(count):
        persona = PERSONA_NAMES[int(rng.choice(len(PERSONA_NAMES), p=weights))]
        style = shift.behaviour.get(persona, _STYLES[persona])
        out.append(_session(rng, persona, style, shelves, f"sess_{seed}_{n:06d}"))
    return out


def _stray(rng: np.random.Generator, shelves: dict[tuple[str, str], _Shelf]) -> str:
    """A product off any shelf: shoppers also click on what is not for them."""
    shelf = list(shelves.values())[int(rng.integers(len(shelves)))]
    return shelf.ids[int(rng.integers(len(shelf.ids)))]


def _session(rng: np.random.Generator, persona: str, style: Style,
             shelves: dict[tuple[str, str], _Shelf], session_id: str) -> DemoSession:
    category = str(rng.choice(style.categories))
    brand = str(rng.choice(_BRANDS))
    noun = str(rng.choice(_NOUNS[category])).lower()
    voice = style if rng.random() < 0.75 else _STYLES[str(rng.choice(PERSONA_NAMES))]
    query = (str(rng.choice(voice.queries)).format(noun=noun, brand=brand)
             if rng.random() < 0.75 else None)
    filters = tuple(f.format(category=category) for f, p in style.filters if rng.random() < p)
    shelf = shelves.get((persona, category))
    viewed: tuple[str, ...] = ()
    bought: int | None = None
    if shelf is not None:
        fits = np.flatnonzero(parse_filters(list(filters)).mask(
            shelf.prices, shelf.ratings, shelf.categories))
        if fits.size == 0:
            fits = np.arange(len(shelf.ids))
        # Weighted sampling without replacement (Gumbel top-k): popular products first.
        keys = shelf.log_popularity[fits] + rng.gumbel(size=fits.size)
        order = fits[np.argsort(-keys)]
        viewed_count = min(int(rng.poisson(1.5)), order.size - 1)
        viewed = tuple(shelf.ids[i] if rng.random() > 0.35 else _stray(rng, shelves)
                       for i in order[:viewed_count])
        bought = int(order[viewed_count])
    device = _DEVICES[int(rng.choice(3, p=style.devices))]
    country, region = _COUNTRIES[int(rng.integers(len(_COUNTRIES)))]
    hour = int(rng.normal(style.hours[0], style.hours[1] + 3)) % 24
    day = int(rng.integers(0, 60))
    time = _EPOCH + timedelta(days=day, hours=hour, minutes=int(rng.integers(60)))
    # Half the shoppers arrive the way everybody does (search, direct, social).
    referrer = str(rng.choice(style.referrers if rng.random() < 0.5 else _COMMON_REFERRERS))
    unknown = rng.random(4) < 0.03  # clients do not always send everything
    return DemoSession(
        session_id=session_id, persona=persona,
        device=None if unknown[0] else device,
        browser=None if unknown[0] else str(rng.choice(_BROWSERS[device])),
        referrer=referrer or None, country=None if unknown[1] else country,
        region=None if unknown[1] else region, time=None if unknown[2] else time,
        query=query, filters=filters, viewed=viewed,
        dwell_ms=None if unknown[3] else int(rng.lognormal(style.dwell, 0.5)),
        purchased=shelf.ids[bought] if shelf is not None and bought is not None else None,
        value=float(shelf.prices[bought]) if shelf is not None and bought is not None else None,
    )
