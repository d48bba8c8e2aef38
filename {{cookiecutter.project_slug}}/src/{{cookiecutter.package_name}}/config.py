"""The app's settings: the runtime's, and each channel's own (docs/settings.md)."""

from azu_ws import RuntimeSettings, SettingsError
from azu_ws import load_settings as load_settings_of

from .channels.notifications import NotificationSettings

__all__ = ["Settings", "SettingsError", "load_settings"]


class Settings(
    NotificationSettings,
    RuntimeSettings,
):
    """Each field is read from the upper-case variable of its name, in the environment or `.env`."""


def load_settings() -> Settings:
    """The settings, or SettingsError with one line per bad variable."""
    return load_settings_of(Settings)
