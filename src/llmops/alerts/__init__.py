"""Alerts: rules over cost, errors, latency, tokens, provider failures, breakers and quotas.

* :mod:`~llmops.alerts.rules` -- :class:`AlertRuleManager` (validated CRUD);
* :mod:`~llmops.alerts.metrics` -- the SQL behind every condition's metric;
* :mod:`~llmops.alerts.evaluation` -- the pure lifecycle decision (open / remind / resolve);
* :mod:`~llmops.alerts.engine` -- :class:`AlertEngine`, the transactional shell;
* :mod:`~llmops.alerts.notifiers` -- Slack, webhook, email and log delivery;
* :mod:`~llmops.alerts.immediate` -- :class:`ImmediateAlerts`, breaker changes and failed
  attempts from a router.
"""

from llmops.alerts.engine import AlertEngine, DeliveryResult, EvaluationOutcome
from llmops.alerts.evaluation import Decision, decide, is_due
from llmops.alerts.immediate import ImmediateAlerts
from llmops.alerts.metrics import MetricValue, measure
from llmops.alerts.notifiers import (
    DeliveryFailed,
    EmailNotifier,
    LogNotifier,
    Notification,
    Notifier,
    RetryPolicy,
    SlackNotifier,
    WebhookNotifier,
    default_notifiers,
)
from llmops.alerts.rules import AlertRuleManager, redacted

__all__ = [
    "AlertEngine",
    "AlertRuleManager",
    "Decision",
    "DeliveryFailed",
    "DeliveryResult",
    "EmailNotifier",
    "EvaluationOutcome",
    "ImmediateAlerts",
    "LogNotifier",
    "MetricValue",
    "Notification",
    "Notifier",
    "RetryPolicy",
    "SlackNotifier",
    "WebhookNotifier",
    "decide",
    "default_notifiers",
    "is_due",
    "measure",
    "redacted",
]
