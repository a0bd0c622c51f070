"""The container runtime: environment, channels, hyperparameters, stages, lifecycle, entrypoint.

Only the standard library is imported here; waitress (serving) and the cloud SDKs load when used.
"""
