"""The webhook gateway (Starlette on uvicorn): verifies, deduplicates and lands webhooks in the
store's inbox before answering; runs process them later.

``app`` holds the routes, ``signatures`` the vendors' signature checks as pure functions,
``settings`` what is read from the environment. Nothing is imported here, so the CLI can read
the settings without loading the web stack.
"""
