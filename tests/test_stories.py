"""Near-duplicate stories: copies and lightly edited reposts count as one story."""

from __future__ import annotations

import os
import pickle
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yuqing.evaluation.demo import BACKGROUND, CRISIS_TEXTS
from yuqing.text.normalize import clean_text
from yuqing.text.stories import StoryClusterer, band_keys

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
POST = "星汇又宕机了？？无法提现，交易失败，钱卡在里面出不来！"
PREFIXES = ["转发微博", "太过分了！", "扩散！", "大家注意", "#星汇宕机#", "@小王 看看", "同样遇到了"]
SUFFIXES = ["[怒]", "！！！", "求扩散", "+1", "#维权#", "@星汇支付", " http://t.cn/A6x9", "，气死了"]
CHARS = "的了是我在有人这他们中来上大为和地到以说时要就出会可也你对能而"


def tokens(text: str) -> list[str]:
    """The clusterer reads characters of the content tokens, so characters stand in for jieba."""
    return list(clean_text(text))


def edit(text: str, rng: random.Random, edits: int) -> str:
    """A light edit as campaigns and reposters make them: wrap, append, change a character."""
    for _ in range(edits):
        kind = rng.randrange(6)
        i = rng.randrange(len(text))
        if kind == 0:
            text = rng.choice(PREFIXES) + " " + text
        elif kind == 1:
            text += rng.choice(SUFFIXES)
        elif kind == 2:
            text = f"转发微博 //@用户{rng.randrange(99999)}:" + text
        elif kind == 3:
            text = text[:i] + rng.choice(CHARS) + text[i + 1:]
        elif kind == 4:
            text = text[:i] + rng.choice(CHARS) + text[i:]
        else:
            text = text[:i] + text[i + 1:]
    return text


def test_a_copy_paste_campaign_of_5000_lightly_edited_copies_is_one_story():
    stories, rng = StoryClusterer(), random.Random(7)
    seen = set()
    for i in range(5000):
        text = edit(POST, rng, rng.randint(1, 3))
        seen.add(stories.push(f"weibo:{i}", tokens(text), T0 + timedelta(seconds=i)))
    assert {story for story, _ in seen} == {"weibo:0"}
    assert max(count for _, count in seen) == 5000
    assert len(stories) == 1


def test_distinct_posts_on_the_same_crisis_are_distinct_stories():
    texts = [t.format(alias="星汇", product="零钱理财")
             for group in (*CRISIS_TEXTS.values(), *BACKGROUND.values()) for t in group]
    stories = StoryClusterer()
    results = [stories.push(f"p{i}", tokens(t), T0) for i, t in enumerate(texts)]
    assert results == [(f"p{i}", 1) for i in range(len(texts))]


def test_repost_marks_links_and_mentions_do_not_change_the_story():
    stories = StoryClusterer()
    stories.push("a", tokens(POST), T0)
    repost = f"转发微博 //@老李:同问//@小王: {POST} http://t.cn/A6x9 @星汇支付"
    assert stories.push("b", tokens(repost), T0) == ("a", 2)


def test_a_reply_joins_its_parents_story_even_with_different_words():
    stories = StoryClusterer()
    stories.push("a", tokens(POST), T0)
    stories.push("b", tokens(POST + "[怒]"), T0, parent_id="")
    assert stories.push("c", tokens("我也是，客服电话打不通"), T0, parent_id="b") == ("a", 3)
    assert stories.push("d", tokens("我也是，客服电话打不通"), T0, parent_id="gone")[0] == "d"


def test_stories_are_forgotten_after_the_horizon_of_event_time():
    stories = StoryClusterer(horizon=timedelta(hours=24))
    stories.push("a", tokens(POST), T0)
    assert stories.push("b", tokens(POST), T0 + timedelta(hours=20)) == ("a", 2)
    # Last seen at +20 h, so still alive at +30 h ...
    assert stories.push("c", tokens(POST), T0 + timedelta(hours=30)) == ("a", 3)
    # ... and forgotten 24 h after its last copy.
    assert stories.push("d", tokens(POST), T0 + timedelta(hours=55)) == ("d", 1)
    assert len(stories) == 1


def test_memory_is_bounded_by_max_stories():
    stories = StoryClusterer(max_stories=10)
    for i in range(50):
        stories.push(f"p{i}", tokens(f"第{i}条完全不同的帖子内容编号{i * 7919}"), T0)
    assert len(stories) <= 10
    assert len(stories._index) <= 10 * stories.n_bands


def test_a_pickled_clusterer_continues_exactly_where_it_stopped():
    rng = random.Random(3)
    texts = [edit(POST, rng, 2) for _ in range(200)]
    texts += [t.format(alias="星汇", product="钱包") for t in CRISIS_TEXTS["outage"]]
    straight = StoryClusterer()
    expected = [straight.push(str(i), tokens(t), T0) for i, t in enumerate(texts)]
    resumed, got = StoryClusterer(), []
    for i, t in enumerate(texts):
        if i % 50 == 0:
            resumed = pickle.loads(pickle.dumps(resumed))
        got.append(resumed.push(str(i), tokens(t), T0))
    assert got == expected


def test_empty_and_one_character_posts_are_stories_too():
    stories = StoryClusterer()
    assert stories.push("a", [], T0) == ("a", 1)
    assert stories.push("b", ["赞"], T0) == ("b", 1)
    assert stories.push("c", ["赞"], T0) == ("b", 2)


# ---- the text normaliser ---------------------------------------------------------

_chunk = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60)
_name = st.text(alphabet="张三李四abc123_", min_size=1, max_size=10)


@given(_chunk)
def test_cleaning_is_idempotent(text):
    once = clean_text(text)
    assert clean_text(once) == once


@given(_chunk)
def test_cleaning_adds_no_characters_but_spaces(text):
    assert set(clean_text(text)) <= set(text) | {" "}


@given(_chunk, _name, _name)
def test_a_repost_chain_around_a_text_cleans_to_the_text(text, first, second):
    wrapped = f"转发微博 //@{first}:{clean_text(text)}"
    assert clean_text(wrapped) == clean_text(clean_text(text))
    replied = f"回复@{second}: //@{first}: {text}"
    assert clean_text(replied) == clean_text(text)


@given(st.text(alphabet="星汇宕机了无法提现，！？ ", max_size=30),
       st.from_regex(r"https?://[a-z]{1,8}\.(com|cn)/[A-Za-z0-9]{0,10}", fullmatch=True))
def test_links_are_removed(text, url):
    assert clean_text(f"{text}{url} {text}") == clean_text(f"{text} {text}")


_CLUSTER_SCRIPT = """
import hashlib, random, sys
from datetime import UTC, datetime, timedelta
sys.path.insert(0, {tests!r})
from test_stories import CHARS, tokens
from yuqing.text.stories import StoryClusterer
rng, stories, out = random.Random(3), StoryClusterer(max_candidates=2), []
for i in range(3000):  # one core, random tails: many candidates that tie on shared bands
    text = "星汇又宕机了无法提现" + "".join(rng.choice(CHARS) for _ in range(rng.randint(6, 12)))
    out.append(stories.push(f"p{{i}}", tokens(text), datetime(2026, 11, 23, tzinfo=UTC) + timedelta(seconds=i)))
print(hashlib.sha1(repr(out).encode()).hexdigest())
"""


def test_stories_do_not_depend_on_the_string_hash_seed():
    """Ties between candidates are broken by arrival order, never by a set's hash order."""
    script = _CLUSTER_SCRIPT.format(tests=str(Path(__file__).parent))
    digests = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                             text=True, check=True)
        digests.add(run.stdout.strip())
    assert len(digests) == 1


@given(st.lists(st.lists(st.text(min_size=1, max_size=6), max_size=12), max_size=30))
def test_signatures_of_a_batch_equal_each_post_s_own(token_lists):
    from yuqing.text.stories import _content, _grams, signature

    stories = StoryClusterer()
    alone = [signature(_grams(_content(t)), *stories._ab).tobytes() for t in token_lists]
    assert stories.signatures(token_lists) == alone


def test_a_batch_of_posts_clusters_as_one_post_at_a_time_does():
    crisis = [t.format(alias="星汇", product="钱包") for t in CRISIS_TEXTS["outage"]][:6]
    calm = [t.format(alias="星汇", product="钱包") for t in BACKGROUND["positive"]][:6]
    texts = [*crisis, *calm, *crisis]
    one, batch = StoryClusterer(), StoryClusterer()
    token_lists = [tokens(t) for t in texts]
    expected = [one.push(f"p{i}", t, T0) for i, t in enumerate(token_lists)]
    sigs = batch.signatures(token_lists)
    keys = batch.band_keys(sigs)
    assert [batch.push(f"p{i}", t, T0, sig=s, keys=k)
            for i, (t, s, k) in enumerate(zip(token_lists, sigs, keys, strict=True))] == expected


@pytest.mark.parametrize("rows", [1, 2, 3])
@given(token_lists=st.lists(st.lists(st.text(min_size=1, max_size=6), max_size=12), max_size=30))
def test_band_keys_of_a_batch_equal_each_signature_s_own(rows, token_lists):
    stories = StoryClusterer(n_bands=24 // rows, rows=rows)
    sigs = stories.signatures(token_lists)
    assert stories.band_keys(sigs) == [band_keys(s, stories.n_bands, rows) for s in sigs]


def test_a_post_the_story_step_fails_on_is_dead_lettered_alone():
    from yuqing.core.mention import Mention
    from yuqing.dataflows.steps import Analyzed, story_batch
    from yuqing.text.analyzer import Analyzer

    class FailsOnOneId(StoryClusterer):
        def push(self, post_id, *args, **kwargs):
            if post_id == "bad":
                raise RuntimeError("broken post")
            return super().push(post_id, *args, **kwargs)

    analyzer = Analyzer.default()
    text = CRISIS_TEXTS["outage"][0].format(alias="星汇", product="钱包")
    mentions = [Mention(id=i, source="weibo", published_at=T0, text=text)
                for i in ("a", "bad", "c")]
    items = [Analyzed(m, analyzer.analyze(m)) for m in mentions]
    state, out = story_batch(None, items, make=FailsOnOneId)
    assert [type(x).__name__ for x in out] == ["EnrichedMention", "DeadLetter", "EnrichedMention"]
    assert out[1].origin == "step:stories" and out[2].story_id == "a" and len(state) == 1
