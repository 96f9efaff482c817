"""Yuqing Radar: real-time public-opinion monitoring and crisis response."""

__version__ = "0.1.0"
