"""Alert intake: HTTP endpoints that turn alerts from monitoring and paging tools into incidents.

`create_app(settings, client_factory)` builds the FastAPI app; `serve(settings)` runs it with
uvicorn (`warroom intake`). See docs/intake.md for the payloads, auth and configuration.
"""

from warroom.intake.app import create_app
from warroom.intake.settings import IntakeSettings

__all__ = ["IntakeSettings", "create_app"]
