"""``llmops demo``: fallbacks, breakers, an A/B verdict, an alert and a restore, in seconds.

See :mod:`llmops.demo.scenario` for the story and :mod:`llmops.demo.runner` for the run.
"""

from llmops.demo.runner import DemoResult, run_demo

__all__ = ["DemoResult", "run_demo"]
