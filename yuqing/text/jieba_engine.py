"""jieba's words with less Python per character: the flow's jieba engine.

`jieba.Tokenizer` cuts each run of Han characters (with letters and digits)
in three passes: a dict of the dictionary words starting at each position,
a best route over it (a generator and a tuple per candidate word), then,
for stretches of single characters the dictionary does not know, an HMM
whose Viterbi copies a path list per character and state. Tokenization is
the flow's largest cost; on distinct Weibo posts the DAG and route took
54 % of jieba's time and the HMM 30 %.

`FastJieba` is a `jieba.Tokenizer` that finds the route in one backward
pass with the entries' log-probabilities remembered, and runs the same
four-state Viterbi with back-pointers and each character's emissions in
one tuple: about half of jieba's time on 22,463 real posts. Every step
adds the same floats in the same order and breaks ties as jieba's `max`
over (score, end) and (probability, state) tuples does, so the words are
jieba's (tests/test_jieba_engine.py). jieba's dictionary, user words,
`add_word`/`del_word`/`suggest_freq` and forced splits all still apply.
"""

from __future__ import annotations

import math

import jieba
from jieba import finalseg

__all__ = ["LOGP_MEMO", "FastJieba", "hmm_cut"]

LOGP_MEMO = 200_000  # dictionary entries remembered with their log-probability (~22 MB at most)

_NOT_A_WORD = 1.0  # in the log-probability memo: a prefix of words, not a word (a log p is <= 0)


# Han character -> its B, M, E, S emissions (at most the ~21k characters the HMM is given)
_EMISSIONS: dict[str, tuple[float, float, float, float]] = {}


def _emissions(ch: str) -> tuple[float, float, float, float]:
    """The character's emission log-probabilities in states B, M, E and S (remembered)."""
    low, emit = finalseg.MIN_FLOAT, finalseg.emit_P
    found = _EMISSIONS[ch] = (emit["B"].get(ch, low), emit["M"].get(ch, low),
                              emit["E"].get(ch, low), emit["S"].get(ch, low))
    return found


def _viterbi(chars: str) -> str:
    """The most probable B/M/E/S state of each character, as jieba's `finalseg.viterbi`.

    Per step, each state's candidates are added as jieba adds them
    (previous + transition + emission); on equal probabilities jieba's `max`
    of (probability, state) keeps the later letter, and so does this.
    """
    start, trans = finalseg.start_P, finalseg.trans_P
    t_be, t_bm = trans["B"]["E"], trans["B"]["M"]
    t_eb, t_es = trans["E"]["B"], trans["E"]["S"]
    t_me, t_mm = trans["M"]["E"], trans["M"]["M"]
    t_sb, t_ss = trans["S"]["B"], trans["S"]["S"]
    known = _EMISSIONS.get
    e_b, e_m, e_e, e_s = known(chars[0]) or _emissions(chars[0])
    v_b, v_m, v_e, v_s = start["B"] + e_b, start["M"] + e_m, start["E"] + e_e, start["S"] + e_s
    back: list[tuple[str, str, str, str]] = []  # per character after the first: where B, M, E, S came from
    for ch in chars[1:]:
        e_b, e_m, e_e, e_s = known(ch) or _emissions(ch)
        a, b = v_e + t_eb + e_b, v_s + t_sb + e_b  # B after E or S
        n_b, p_b = (b, "S") if b >= a else (a, "E")
        a, b = v_m + t_mm + e_m, v_b + t_bm + e_m  # M after M or B
        n_m, p_m = (b, "B") if b > a else (a, "M")
        a, b = v_b + t_be + e_e, v_m + t_me + e_e  # E after B or M
        n_e, p_e = (b, "M") if b >= a else (a, "B")
        a, b = v_s + t_ss + e_s, v_e + t_es + e_s  # S after S or E
        n_s, p_s = (b, "E") if b > a else (a, "S")
        v_b, v_m, v_e, v_s = n_b, n_m, n_e, n_s
        back.append((p_b, p_m, p_e, p_s))
    state = "S" if v_s >= v_e else "E"
    states = [state]
    slot = {"B": 0, "M": 1, "E": 2, "S": 3}
    for step in reversed(back):
        state = step[slot[state]]
        states.append(state)
    states.reverse()
    return "".join(states)


def _hmm_words(chars: str, out: list[str]) -> None:
    """Words of a run of Han characters from their states, as jieba's `finalseg.__cut`."""
    begin = rest = 0
    for i, state in enumerate(_viterbi(chars)):
        if state == "B":
            begin = i
        elif state == "E":
            out.append(chars[begin:i + 1])
            rest = i + 1
        elif state == "S":
            out.append(chars[i])
            rest = i + 1
    if rest < len(chars):
        out.append(chars[rest:])


def hmm_cut(text: str) -> list[str]:
    """`list(jieba.finalseg.cut(text))`: the HMM's words for characters the dictionary lacks."""
    out: list[str] = []
    forced = finalseg.Force_Split_Words
    for i, block in enumerate(finalseg.re_han.split(text)):
        if i % 2:  # a run of Han characters (split keeps the matches at odd places)
            words: list[str] = []
            _hmm_words(block, words)
            for word in words:
                if word in forced:
                    out.extend(word)
                else:
                    out.append(word)
        elif block:
            out.extend(x for x in finalseg.re_skip.split(block) if x)
    return out


class FastJieba(jieba.Tokenizer):
    """A `jieba.Tokenizer` whose cut of a run of characters (`__cut_DAG`, what `cut` calls
    with HMM on) is ours, and with `cut_text`, `lcut` without generators.

    Remembers the log-probability of each dictionary entry it met (`logp`,
    at most `LOGP_MEMO`); cleared when a word is added or deleted and when
    the dictionary or its total changes.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.logp: dict[str, float] = {}
        self._logp_of: tuple[int, int] = (0, 0)  # (id of FREQ, total) that `logp` was computed for

    def add_word(self, *args, **kwargs) -> None:  # del_word and suggest_freq come here too
        self.logp.clear()  # its count, and the total, change
        super().add_word(*args, **kwargs)

    def cut_text(self, text: str) -> list[str]:
        """`lcut(text)` (HMM on, not cut_all) without its generators: the words of a text.

        As jieba's `cut`: runs of Han characters, letters and digits are cut
        into words; elsewhere a space or line break is a token of its own and
        every other character (punctuation, say) is one.
        """
        out: list[str] = []
        skip = jieba.re_skip_default.split
        for i, block in enumerate(jieba.re_han_default.split(text)):
            if i % 2:  # a run (split keeps the matches at odd places)
                out.extend(self.cut_run(block))
            elif block:
                for j, piece in enumerate(skip(block)):
                    if j % 2:
                        out.append(piece)
                    else:
                        out.extend(piece)
        return out

    def _Tokenizer__cut_DAG(self, sentence: str) -> list[str]:  # what jieba's `cut` calls per run
        return self.cut_run(sentence)

    def cut_run(self, run: str) -> list[str]:
        """The words of one run of characters, as jieba's `__cut_DAG` yields them."""
        self.check_initialized()
        if self._logp_of != (id(self.FREQ), self.total) or len(self.logp) > LOGP_MEMO:
            self.logp.clear()
            self._logp_of = (id(self.FREQ), self.total)
        ends = self._route(run)
        out: list[str] = []
        single = ""  # characters the route left alone, gathered for the HMM
        x, n = 0, len(run)
        while x < n:
            y = ends[x]
            if y - x == 1:
                single += run[x]
            else:
                if single:
                    self._singles(single, out)
                    single = ""
                out.append(run[x:y])
            x = y
        if single:
            self._singles(single, out)
        return out

    def _route(self, run: str) -> list[int]:
        """For each position, where the best route's word starting there ends.

        jieba's `calc` over its `get_DAG`: from the end backwards, the word
        (a dictionary entry with a count, or else the character alone) that
        maximises log(count) - log(total) + the best score after it; on equal
        scores the longer word, as jieba's `max` over (score, end) tuples.
        """
        freq, logp = self.FREQ, self.logp
        remembered = logp.get
        logtotal = math.log(self.total)
        n = len(run)
        score = [0.0] * (n + 1)
        ends = [0] * (n + 1)
        for k in range(n - 1, -1, -1):
            best, end = -math.inf, -1
            i, frag = k, run[k]
            while True:
                lp = remembered(frag)
                if lp is None:
                    count = freq.get(frag)
                    if count is None:  # not even a prefix of a word: no longer word starts here
                        break
                    lp = logp[frag] = math.log(count) - logtotal if count else _NOT_A_WORD
                if lp != _NOT_A_WORD:
                    s = lp + score[i + 1]
                    if s >= best:
                        best, end = s, i
                i += 1
                if i == n:
                    break
                frag = run[k:i + 1]
            if end < 0:  # no word starts here: the character alone, counted once
                best, end = math.log(1) - logtotal + score[k + 1], k
            score[k] = best
            ends[k] = end + 1
        return ends

    def _singles(self, chars: str, out: list[str]) -> None:
        """Single characters in a row: one word if the dictionary has them, else the HMM's words."""
        if len(chars) == 1:
            out.append(chars)
        elif not self.FREQ.get(chars):
            out.extend(hmm_cut(chars))
        else:
            out.extend(chars)
