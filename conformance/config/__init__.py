"""What a run is configured with, before anything is sent.

- :mod:`~conformance.config.settings`: every setting once (pytest option, CLI flag, environment
  variable) and their resolution;
- :mod:`~conformance.config.profile`: what a target supports, its timings, its bot and limits
  (the built-in profiles and their expectations files are in ``profiles/``);
- :mod:`~conformance.config.expectations`: a target's known deviations;
- :mod:`~conformance.config.target`: the target URL and the profile in effect;
- :mod:`~conformance.config.costs`: what a test may cost under a profile's timings;
- :mod:`~conformance.config.files`: reading a file the user named (one clear line on failure).

It stands on the catalog (the features a profile may declare) and knows nothing of clients,
the suite or verdicts.
"""
