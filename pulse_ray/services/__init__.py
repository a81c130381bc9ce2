"""Application services: each use case of the API, the CLI and the jobs lives here,
once. They import no Ray (the runtime adapters are injected through protocols) and no
web framework (routers and commands are thin adapters over them)."""
