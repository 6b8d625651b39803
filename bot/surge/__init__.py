"""Surge detection: per organisation, topic and thread, from a seasonal baseline and a Poisson CUSUM."""

from bot.surge.config import SurgeConfig, SurgeLevel, SurgeLevels
from bot.surge.detect import Detector
from bot.surge.events import SurgeEvent

__all__ = ["Detector", "SurgeConfig", "SurgeEvent", "SurgeLevel", "SurgeLevels"]
