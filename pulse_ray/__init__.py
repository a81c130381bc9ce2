"""Pulse on Ray: snapshot databases, train on Ray Train, serve on Ray Serve, and trace
every prediction back to its model version, run, snapshot and datasource."""
