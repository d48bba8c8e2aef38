"""The test app's settings: the runtime's, and those of the notification store."""

from azu_ws import RuntimeSettings, SettingsError
from azu_ws import load_settings as load_settings_of
from pydantic import Field

__all__ = ["Settings", "SettingsError", "load_settings"]


class Settings(RuntimeSettings):
    """Each field is read from the upper-case variable of its name, in the environment."""

    # Where notifications are kept: `sqlite:///path/to/file.db` or `redis://host:port/db`.
    database_url: str = "sqlite:///data/app.db"
    notification_max_pending: int = Field(default=100, ge=1)
    notification_ttl: float = Field(default=7 * 24 * 3600, gt=0)


def load_settings() -> Settings:
    """The settings, or SettingsError with one line per bad variable."""
    return load_settings_of(Settings)
