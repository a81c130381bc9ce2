"""Webhooks: events written to an outbox with the change that caused them, delivered by
one dispatcher, signed per the Standard Webhooks specification."""
