"""Reply craft: the answer library with rotation, the tone check and promise detection (pure, no I/O)."""

from bot.craft.answers import Craft, Library, Suggestion, Variant, build_craft
from bot.craft.promises import Promise, detect_promise
from bot.craft.tone import ToneCode, ToneContext, ToneWarning, check_tone

__all__ = [
    "Craft", "Library", "Promise", "Suggestion", "ToneCode", "ToneContext", "ToneWarning", "Variant",
    "build_craft", "check_tone", "detect_promise",
]
