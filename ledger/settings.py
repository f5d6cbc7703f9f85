"""Settings from the environment (prefix HUIMIN_). Owns defaults and refuses unsafe ones in production."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "dev-only-secret-change-me"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HUIMIN_", extra="ignore")

    environment: str = "development"  # development | test | production
    database_url: str = "sqlite:///huimin.db"
    secret_key: str = DEV_SECRET
    # SQLite waits this long for another writer before giving up with "database is locked".
    sqlite_busy_timeout_ms: int = 30_000
    # Sign-in: a session ends after this long without a request, and in any case after the maximum.
    session_idle_minutes: int = 30
    session_max_hours: int = 12
    # Login throttle: this many failures for one user name (or one address) within the window
    # refuse further attempts until the window has passed.
    login_max_failures: int = 5
    login_ip_max_failures: int = 20
    login_window_minutes: int = 15
    # 公示: a payment batch is disclosed for at least this many days before it may be approved.
    disclosure_days: int = Field(default=10, ge=1, le=90)
    # Set true behind HTTPS so cookies carry the Secure flag.
    secure_cookies: bool = False

    @property
    def cookie_secure(self) -> bool:
        return self.secure_cookies or self.environment == "production"

    @model_validator(mode="after")
    def _refuse_default_secret_in_production(self) -> Settings:
        if self.environment == "production" and self.secret_key == DEV_SECRET:
            raise ValueError("HUIMIN_SECRET_KEY must be set to a real secret in production")
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
