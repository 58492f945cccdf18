"""What the three system-API resources share: connection settings and the client's lifetime."""

from __future__ import annotations

from typing import Any

from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field, PrivateAttr, ValidationError

from resources.errors import InvalidResponse
from resources.http import ApiClient, RetryPolicy, VendorDialect


class SystemApiResource(ConfigurableResource):
    """Base for one vendor API. Subclasses name the dialect and the auth headers."""

    base_url: str = Field(description="API root of the vendor (or of its sandbox)")
    timeout_seconds: float = Field(default=30.0, gt=0, description="per-request timeout")
    max_attempts: int = Field(default=10, ge=1, le=50, description="tries per call, first included")
    retry_budget_seconds: float = Field(
        default=300.0, gt=0, description="give up a call after this"
    )
    retry_base_delay_seconds: float = Field(default=0.1, ge=0, description="first backoff ceiling")
    page_size: int = Field(default=100, ge=1, le=1000, description="records per list page")

    _api: ApiClient | None = PrivateAttr(default=None)

    # -- to implement -----------------------------------------------------------------------
    def _dialect(self) -> VendorDialect:
        raise NotImplementedError

    def _auth_headers(self) -> dict[str, str]:
        raise NotImplementedError

    # -- lifetime ---------------------------------------------------------------------------
    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._api = self._build_client()

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        self.close()

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None

    @property
    def api(self) -> ApiClient:
        """The client, created on first use so the resource also works outside Dagster."""
        if self._api is None:
            self._api = self._build_client()
        return self._api

    def _build_client(self) -> ApiClient:
        policy = RetryPolicy(
            max_attempts=self.max_attempts,
            budget_seconds=self.retry_budget_seconds,
            base_delay_seconds=self.retry_base_delay_seconds,
        )
        return ApiClient(
            self.base_url,
            self._dialect(),
            headers={"User-Agent": "sync-platform/0.1", **self._auth_headers()},
            policy=policy,
            timeout_seconds=self.timeout_seconds,
        )

    def _validate(self, model: Any, raw: Any) -> Any:
        """Turn a vendor record into its pydantic model, or fail naming what was wrong."""
        try:
            return model.model_validate(raw)
        except ValidationError as exc:
            ident = raw.get("id") if isinstance(raw, dict) else None
            raise InvalidResponse(
                self._dialect().system,
                f"{model.__name__} {ident or ''} does not match the vendor's documented shape: "
                f"{exc.errors(include_url=False)[:3]}",
            ) from exc
