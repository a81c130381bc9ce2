"""Demo data to try Pulse on: card transactions with a fraud signal, a shop's catalog
and shopper sessions with known personas, and the seeds' example requests."""
