"""Surges: storms of mentions on one post or topic: detected (detect), grouped (cluster), kept workable."""

from bot.surge.config import SurgeConfig, SurgeLevel, SurgeLevels
from bot.surge.detect import Detector
from bot.surge.events import SurgeEvent

__all__ = ["Detector", "SurgeConfig", "SurgeEvent", "SurgeLevel", "SurgeLevels"]
