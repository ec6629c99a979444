"""Notify: routes events to channels (Slack, email, PagerDuty, webhooks) with retries, recorded."""
