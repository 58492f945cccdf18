"""The operations console (``/console`` on the gateway): transactions, exceptions, approvals,
replay and business figures, by role.

``app.create_console`` builds it, ``settings.ConsoleSettings`` configures it, ``accounts``
holds who may sign in; the package itself imports nothing, so the CLI stays quick to start.
"""
