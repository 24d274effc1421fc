"""The lab: pure experiment code, one module per theme of the catalogue, plus the shared pieces.

Every function here returns numbers and arrays; none asserts, prints, plots or judges (the judge
and the evidence recorder do that).  A theme's claims are in ``claims/catalogue/<theme>.toml``,
its tests in ``claims/test_<theme>.py`` and its experiment code in ``harness/lab/<theme>.py``
(themes without experiment code of their own use the shared pieces only).

Shared pieces: ``data`` (data sets), ``models`` (torch MLPs and inits), ``stacked`` (seeds,
mini-batch orders, and one MLP per seed on a run axis: its inits, forward pass, losses, accuracy
and SGD step), ``train`` (convex softmax models by GD
and SGD), ``measure`` (gradients and activations of a model), ``timing`` (interleaved timers,
foreign-load detection), ``runtime`` (threads and determinism).
"""
