"""Results: building ``reports/claims.json`` from case payloads, aggregating case verdicts into claim
verdicts, the schema, merging runs, the run history, the coverage of the texts and stability runs.

- :mod:`harness.results.build`: the results dict from a run's payloads and catalogue.
- :mod:`harness.results.aggregate`: a claim's verdict from its cases; key numbers; counts.
- :mod:`harness.results.files`: atomic writes, reading back, schema validation.
- :mod:`harness.results.environment`: the machine and versions a run used.
- :mod:`harness.results.merge`, :mod:`~harness.results.history`, :mod:`~harness.results.coverage`,
  :mod:`~harness.results.stability`: joining runs, the last runs per claim, the texts' coverage,
  reruns over base seeds.
"""

from harness.results.files import SCHEMA_VERSION, ResultsError, load_results, validate, write_json_atomic

__all__ = ["SCHEMA_VERSION", "ResultsError", "load_results", "validate", "write_json_atomic"]
