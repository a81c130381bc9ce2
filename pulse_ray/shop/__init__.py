"""Pulse for e-commerce (seed 002): product tagging, shopper personas and
recommendations, conversions. Pure domain code: the text model and the persona model
are reached through protocols, so none of this needs Ray."""
