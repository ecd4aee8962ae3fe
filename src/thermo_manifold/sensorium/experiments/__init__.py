"""One module per experiment; each reads top to bottom: Config, data, manifold, baselines,
tables and figures."""
