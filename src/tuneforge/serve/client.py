"""A small Python client of the tuneforge HTTP API (sync, on httpx)."""

from __future__ import annotations

from typing import Any

import httpx

from tuneforge.errors import TuneforgeError


class ServeClientError(TuneforgeError):
    """The server answered with an error: its HTTP status, error code and message."""

    def __init__(self, status: int, code: str, message: str, retry_after_s: float | None = None):
        super().__init__(f"HTTP {status} {code}: {message}")
        self.status, self.code, self.message = status, code, message
        self.retry_after_s = retry_after_s


class TuneforgeClient:
    """Talk to `tuneforge serve`.

    Example:
        >>> client = TuneforgeClient("http://127.0.0.1:8000", api_key=KEY)
        >>> client.predict("news-topic", ["Shares fell sharply."])["predictions"][0]["label"]
    """

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        api_key: str | None = None,
        timeout_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            base_url=base_url, headers=headers, timeout=timeout_s, transport=transport
        )

    def predict(self, model: str, inputs: list[str]) -> dict[str, Any]:
        """{"model", "version", "predictions", "request_id"} for texts; `model` may be a ref."""
        return self._call("POST", f"/v1/models/{model}/predict", json={"inputs": inputs})

    def models(self) -> list[dict[str, Any]]:
        return self._call("GET", "/v1/models")["models"]

    def monitoring(self, name: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/models/{name}/monitoring")

    def ready(self) -> bool:
        return self._http.get("/readyz").status_code == 200

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        if response.is_success:
            return response.json()
        try:
            error = response.json()["error"]
            code, message = error["code"], error["message"]
        except (ValueError, KeyError, TypeError):
            code, message = "http_error", response.text[:200]
        retry_after = response.headers.get("Retry-After")
        raise ServeClientError(
            response.status_code,
            code,
            message,
            float(retry_after) if retry_after and retry_after.isdigit() else None,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> TuneforgeClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
