"""`yuqing score`: analyse a JSONL file of mentions in batch with the flow's code.

    yuqing score --input IN.jsonl --output OUT.jsonl [--engine jieba|rjieba|auto]
                 [--user-dict FILE ...] [--lexicon FILE ...] [--brands FILE ...]

Each valid mention is written back as its contract JSON plus brand, tokens,
sentiment, sentiment_label, category, category_evidence, category_score,
story_id and story_count, in input order. Like the flow, a repeated id (per
brand) is counted once and skipped, and stories are clustered per brand. An
invalid line is reported on stderr with its line number and the reason, and
counted; a summary line ends the run. `-` reads stdin or writes stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import IO

from yuqing.core.mention import InvalidMention, parse_mention
from yuqing.errors import UserError
from yuqing.stream.dedup import RecentIds
from yuqing.text.analyzer import Analyzer
from yuqing.text.stories import StoryClusterer
from yuqing.text.tokenizer import ENGINES

DEDUP_HORIZON = timedelta(hours=24)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "score",
        help="analyse a JSONL file of mentions offline (tokens, sentiment, category, story)",
        description="Score mentions in batch with the same code as the flow: brand, tokens, "
        "sentiment, crisis category with evidence, and near-duplicate story id and count.",
    )
    parser.add_argument("--input", required=True, help="JSONL file of mentions ('-' for stdin)")
    parser.add_argument("--output", required=True, help="JSONL file to write ('-' for stdout)")
    parser.add_argument("--engine", choices=ENGINES, default="jieba",
                        help="tokenizer engine (default jieba; rjieba is about 20x faster)")
    parser.add_argument("--user-dict", action="append", default=[], metavar="FILE",
                        help="extra jieba user dictionary (repeatable)")
    parser.add_argument("--lexicon", action="append", default=[], metavar="FILE",
                        help="extra risk lexicon YAML (repeatable; see docs/categories.md)")
    parser.add_argument("--brands", action="append", default=[], metavar="FILE",
                        help="extra brand dictionary YAML (repeatable)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.input != "-" and not Path(args.input).is_file():
        raise UserError(f"--input {args.input}: no such file; give a JSONL file of mentions or -")
    if args.output != "-":
        out_path = Path(args.output)
        if not out_path.parent.is_dir():
            raise UserError(f"--output {args.output}: folder {out_path.parent} does not exist")
        if args.input != "-" and out_path.resolve() == Path(args.input).resolve():
            raise UserError("--output must differ from --input (the input would be overwritten)")
    analyzer = Analyzer.default(args.engine, args.user_dict, args.lexicon, args.brands)
    scorer = BatchScorer(analyzer)
    started = time.perf_counter()
    with _open(args.input, "rb", sys.stdin.buffer) as src, \
            _open(args.output, "w", sys.stdout) as dst:
        for lineno, raw in enumerate(src, start=1):
            if not raw.strip():
                continue
            try:
                row = scorer.score(raw)
            except InvalidMention as err:
                print(f"{args.input}:{lineno}: skipped: {err}", file=sys.stderr)
                continue
            if row is not None:
                dst.write(json.dumps(row, ensure_ascii=False) + "\n")
    elapsed = time.perf_counter() - started
    rate = scorer.scored / elapsed if elapsed > 0 else 0.0
    print(f"yuqing score: {scorer.scored} scored, {scorer.invalid} invalid, "
          f"{scorer.duplicates} duplicate ids, {scorer.stories} stories -> {args.output} "
          f"({elapsed:.1f} s, {rate:.0f} mentions/s)", file=sys.stderr)
    return 0 if scorer.scored or not scorer.invalid else 1


class BatchScorer:
    """The flow's per-mention steps for one record at a time: parse, dedup, analyze, story."""

    def __init__(self, analyzer: Analyzer) -> None:
        self.analyzer = analyzer
        self.seen: dict[str, RecentIds] = {}
        self.clusterers: dict[str, StoryClusterer] = {}
        self.scored = self.invalid = self.duplicates = 0

    @property
    def stories(self) -> int:
        return sum(len(c) for c in self.clusterers.values())

    def score(self, raw: bytes | str) -> dict | None:
        """The output row of one record, None for a repeated id; raises InvalidMention."""
        try:
            mention = parse_mention(raw)
        except InvalidMention:
            self.invalid += 1
            raise
        brand = self.analyzer.brand_of(mention)
        seen = self.seen.setdefault(brand, RecentIds(DEDUP_HORIZON))
        if not seen.first_time(mention.id, mention.published_at):
            self.duplicates += 1
            return None
        analysis = self.analyzer.analyze(mention)
        stories = self.clusterers.setdefault(brand, StoryClusterer())
        story_id, count = stories.push(
            mention.id, analysis.tokens, mention.published_at, mention.parent_id)
        self.scored += 1
        return {**mention.to_json(), **analysis.to_json(), "story_id": story_id,
                "story_count": count}


@contextmanager
def _open(name: str, mode: str, std: IO) -> Iterator[IO]:
    if name == "-":
        yield std
        return
    try:
        handle = open(name, mode, encoding=None if "b" in mode else "utf-8")  # noqa: SIM115
    except OSError as err:
        raise UserError(f"cannot open {name} ({err.strerror})") from None
    with handle:
        yield handle
