"""The app's settings: the runtime's (README.md, "Settings"), and the app's own below."""

from azu_ws import RuntimeSettings, SettingsError
from azu_ws import load_settings as load_settings_of
from pydantic import Field, field_validator

__all__ = ["Settings", "SettingsError", "load_settings"]

SQLITE_PREFIX = "sqlite:///"


class Settings(RuntimeSettings):
    """Each field is read from the upper-case variable of its name, in the environment or `.env`."""

    # Where notifications are stored: a SQLite file, or Redis for many hosts.
    database_url: str = "sqlite:///data/app.db"
    notification_max_pending: int = Field(default=100, ge=1)
    notification_ttl: float = Field(default=7 * 24 * 3600, gt=0)

    @field_validator("database_url")
    @classmethod
    def _database_is_sqlite_or_redis(cls, value: str) -> str:
        if value.startswith(("redis://", "rediss://")):
            return value
        if not value.startswith(SQLITE_PREFIX) or value == SQLITE_PREFIX:
            raise ValueError("must be sqlite:///path/to/file.db or redis://host:port/db")
        return value


def load_settings() -> Settings:
    """The settings, or SettingsError with one line per bad variable."""
    return load_settings_of(Settings)
