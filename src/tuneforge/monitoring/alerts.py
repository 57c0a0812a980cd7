"""Alert delivery: a JSON log line always, and a webhook POST with retries when configured.

Webhook calls run on a background thread: a slow or dead receiver must never hold up inference
or the event loop.
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

logger = logging.getLogger("tuneforge.alerts")


class AlertConfig(BaseModel):
    """Where alerts go besides the log."""

    model_config = ConfigDict(extra="forbid")

    webhook_url: str | None = None
    """POST each alert as JSON to this URL (e.g. a Slack/Teams/PagerDuty relay); none by default."""
    webhook_timeout_s: float = Field(5.0, gt=0)
    webhook_retries: int = Field(3, ge=0)
    """Extra attempts after a failed POST (connection error or 5xx)."""
    retry_backoff_s: float = Field(0.5, ge=0)
    """Wait before retry k is backoff * 2**(k-1): a receiver that is restarting gets time."""


class AlertNotifier:
    """Sends alerts to the log and, if configured, to a webhook (off the calling thread)."""

    def __init__(self, config: AlertConfig) -> None:
        self.config = config
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tuneforge-alerts")

    def notify(self, alert: dict[str, Any]) -> Future[bool] | None:
        """Log the alert; POST it to the webhook in the background (the future says if it arrived)."""
        logger.warning(json.dumps({"event": "alert", **alert}, default=str))
        if not self.config.webhook_url:
            return None
        return self._executor.submit(self._post, alert)

    def _post(self, alert: dict[str, Any]) -> bool:
        import httpx

        url = self.config.webhook_url
        assert url is not None
        for attempt in range(self.config.webhook_retries + 1):
            if attempt:
                time.sleep(self.config.retry_backoff_s * 2 ** (attempt - 1))
            try:
                response = httpx.post(url, json=alert, timeout=self.config.webhook_timeout_s)
            except httpx.HTTPError as error:
                reason = f"{type(error).__name__}: {error}"
            else:
                if response.status_code < 500:
                    return response.is_success
                reason = f"HTTP {response.status_code}"
            logger.warning(
                json.dumps(
                    {"event": "alert_webhook_failed", "attempt": attempt + 1, "reason": reason}
                )
            )
        return False

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
