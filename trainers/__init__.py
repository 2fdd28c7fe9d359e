"""JMLR trainer: face data, model, losses, GPU input pipeline, PnP pose and the WCPA score."""
