"""Search driver: Optuna proposes architectures, Ray Tune runs the proxy and final trainings."""
