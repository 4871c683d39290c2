"""Two-level search, in four parts that change independently (Optuna's own split):
:mod:`.space` (knobs <-> Optuna distributions and labels), :mod:`.sampler` (which sampler, seeded),
:mod:`.storage` (where the study lives: memory, journal file, an RDB URL) and :mod:`.runner` (the
ask / evaluate / tell / flush loop)."""
