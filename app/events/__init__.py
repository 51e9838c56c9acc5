"""The event bus: every state change is published once and fanned out to listeners."""

from app.events.bus import Event, EventBus, Listener
from app.events.topics import Topic

__all__ = ["Event", "EventBus", "Listener", "Topic"]
