"""Training pipeline schedules (Zero Bubble, Controllable Memory): the ``training`` system kind."""
