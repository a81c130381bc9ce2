"""Ray Serve applications of Pulse: the ingress, its builder and serve_config.yaml."""
