"""The ``imsim`` command: one module per subcommand group, each with ``register(app)``."""
