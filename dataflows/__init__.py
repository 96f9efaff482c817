"""The Bytewax dataflow of Yuqing Radar and its I/O adapters."""
