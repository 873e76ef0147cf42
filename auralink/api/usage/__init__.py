"""Usage and billing: plans and quotas, API-call metering, usage reports, cost estimates, analytics.

- :mod:`.plans`: free / pro / enterprise, their monthly quotas and per-key rates, the plans file;
- :mod:`.periods`: calendar months (UTC);
- :mod:`.quotas`: usage against quotas, :func:`check_call_quotas` (402) and :class:`QuotaExceeded`;
- :mod:`.keys`, :mod:`.meter`, :mod:`.middleware`: API calls counted per key, flushed as rows;
- :mod:`.thresholds`: ``usage.threshold`` events at 80 % and 100 %, once each;
- :mod:`.report`: totals per period, agent and day, and the CSV export;
- :mod:`.costs`: unit prices of the BYOK providers and cost estimates;
- :mod:`.analytics`: calls per day, minutes, latency, quality per agent;
- :mod:`.runtime`: what the app's lifespan starts and closes.

See docs/api-usage.md.
"""

from .keys import KeyDirectory, KeyOwner, key_prefix
from .meter import ApiCallMeter
from .periods import MAX_SPAN, Period, month_of, parse_month, span
from .plans import (
    BUILTIN_PLANS,
    PlanName,
    Plans,
    PlanSpec,
    Quota,
    UsageConfig,
    load_usage_config,
    usage_config,
)
from .quotas import (
    CALL_QUOTAS,
    QUOTA_RESPONSES,
    QuotaExceeded,
    QuotaState,
    check_call_quotas,
    install_quota_errors,
    install_usage,
    metric_totals,
    org_plan,
    quota_states,
    quota_used,
)
from .runtime import UsageRuntime
from .thresholds import THRESHOLDS, ThresholdWatcher, check_thresholds, threshold_event_id

__all__ = [
    "BUILTIN_PLANS",
    "CALL_QUOTAS",
    "MAX_SPAN",
    "QUOTA_RESPONSES",
    "THRESHOLDS",
    "ApiCallMeter",
    "KeyDirectory",
    "KeyOwner",
    "Period",
    "PlanName",
    "PlanSpec",
    "Plans",
    "Quota",
    "QuotaExceeded",
    "QuotaState",
    "ThresholdWatcher",
    "UsageConfig",
    "UsageRuntime",
    "check_call_quotas",
    "check_thresholds",
    "install_quota_errors",
    "install_usage",
    "key_prefix",
    "load_usage_config",
    "metric_totals",
    "month_of",
    "org_plan",
    "parse_month",
    "quota_states",
    "quota_used",
    "span",
    "threshold_event_id",
    "usage_config",
]
