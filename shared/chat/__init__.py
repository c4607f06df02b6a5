"""Shared layer of the WebSocket chat backend: models, services and the wire protocol.

Every function under ``functions/`` imports from here; nothing here creates an AWS client
or reads the network at import time.
"""
