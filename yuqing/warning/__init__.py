"""Early warning: a model layer, evaluated on every mention of a brand.

Owns the window signals, the seasonal expectations and burst detector, the
resonance detector of `yuqing detect` (`resonance`, for series of any kind), the
risk score, tiers with hysteresis, the incident lifecycle and its evidence,
pipeline-health silence, the per-brand `BrandMonitor` (`monitor`) and its
settings (`config`).

May import: `yuqing.text`, `yuqing.core`, `yuqing.errors`, River, numpy.
Never Bytewax, Kafka, ClickHouse or gRPC.
"""
