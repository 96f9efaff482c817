"""Understanding one mention's text: a model layer.

Owns normalisation, jieba/rjieba tokenization, sentiment features and the
River sentiment model, crisis categories with evidence, the brand
dictionary, near-duplicate stories, and the `Analyzer` that runs them all.

May import: `yuqing.core`, `yuqing.errors`, River, numpy, jieba. Never
Bytewax, Kafka, ClickHouse or gRPC, and nothing else of ours.
"""
