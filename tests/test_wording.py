"""reports.wording on constructed results: a win or a loss is worded only when the interval excludes zero,
an interval containing zero is "no measurable difference", a missing one "undecided", and a toy run never
words a comparison."""
import math
import re

import numpy as np
import pytest

from nas.compare import compare_groups
from reports.wording import ablation_phrase, compare_sentence, controls_sentence, difference_phrase, fmt_p, \
    in_short_phrase

VERDICT_WORDS = re.compile(r"\b(beat|beats|win|wins|won|lose|loses|lost|better|worse)\b", re.IGNORECASE)


def stats(diff_pct, lo_pct, hi_pct, p=0.03, n=2, ref_n=2, ref_mean=12.9, test="welch"):
    """A compare_groups row built by hand (percent of a reference mean of ref_mean mm)."""
    k = ref_mean / 100
    return {"mean": ref_mean + diff_pct * k, "sd": 0.4, "n": n, "ref_mean": ref_mean, "ref_sd": 0.3, "ref_n": ref_n,
            "diff": diff_pct * k, "lo": lo_pct * k, "hi": hi_pct * k, "pct": diff_pct, "pct_lo": lo_pct,
            "pct_hi": hi_pct, "test": test, "t": -3.0, "df": 2.0, "p": p, "level": 0.95}


WIN, LOSS, NOTHING = stats(-4.6, -8.0, -1.2), stats(3.5, 1.0, 6.0, p=0.01), stats(-0.8, -3.1, 2.0, p=0.41)
UNDECIDED = stats(-5.4, math.nan, math.nan, p=math.nan, n=1, ref_n=1)


def test_a_win_is_worded_with_its_interval_and_p():
    text = compare_sentence("d5.14", "resnet34d", WIN)
    assert text == ("d5.14 scores 12.31 ± 0.40 mm over 2 seeds against resnet34d's 12.90 ± 0.30 mm over 2 seeds: "
                    "4.6 % lower (95 % interval 1.2 to 8.0 %), Welch p = 0.03: better than resnet34d.")
    assert in_short_phrase("the best searched net", "resnet34d", WIN).startswith("the best searched net beats "
                                                                                "resnet34d: 4.6 % lower")


def test_a_loss_is_worded_as_one():
    text = compare_sentence("d7.18", "resnet34d", LOSS)
    assert "3.5 % higher (95 % interval 1.0 to 6.0 %), Welch p = 0.01: worse than resnet34d." in text
    assert in_short_phrase("the best searched net", "resnet34d", LOSS).startswith(
        "the best searched net loses to resnet34d")


def test_an_interval_containing_zero_is_no_measurable_difference():
    for s in (NOTHING, stats(-2.0, -4.0, 0.0), stats(1.0, 0.0, 2.5)):  # touching zero still contains it
        for text in (compare_sentence("d5.14", "resnet34d", s), in_short_phrase("d5.14", "resnet34d", s),
                     ablation_phrase(s, paper_delta=-1.3)):
            assert "no measurable difference" in text and not VERDICT_WORDS.search(text), text
    assert "no measurable difference (-0.8 %, 95 % interval -3.1 to +2.0 %), Welch p = 0.41." in \
        compare_sentence("d5.14", "resnet34d", NOTHING)


def test_a_missing_interval_is_undecided():
    text = compare_sentence("d5.14", "resnet34d", UNDECIDED)
    assert text == ("d5.14 scores 12.20 ± 0.40 mm from 1 seed against resnet34d's 12.90 ± 0.30 mm from 1 seed: "
                    "undecided (-5.4 %, but with 1 seed against 1 there is no interval: a single value shows "
                    "no spread).")
    for t in (text, in_short_phrase("d5.14", "resnet34d", UNDECIDED), ablation_phrase(UNDECIDED, -1.0)):
        assert "undecided" in t and not VERDICT_WORDS.search(t)


def test_a_toy_run_never_words_a_comparison():
    for s in (WIN, LOSS, NOTHING, UNDECIDED):
        for text in (compare_sentence("d5.14", "resnet34d", s, toy=True),
                     in_short_phrase("d5.14", "resnet34d", s, toy=True), ablation_phrase(s, -1.0, toy=True),
                     difference_phrase(s, toy=True)):
            assert "not meaningful" in text and not VERDICT_WORDS.search(text), text
            assert "p =" not in text and "interval" not in text and "measurable" not in text
    for scores in (([1, 2, 3], [4, 5, 6, 7]), ([5, 6, 7], [1, 2, 3, 4]), ([1.0], [2.0])):
        text = controls_sentence(*scores, toy=True)
        assert "not meaningful" in text and not VERDICT_WORDS.search(text)
        assert text.split("? ", 1)[1].startswith("Not answered (a toy run: these numbers are not meaningful")


def test_higher_is_better_and_a_weak_p_behind_a_narrow_interval():
    speed = stats(12.0, 5.0, 20.0, p=0.2, ref_mean=5673.0)
    text = compare_sentence("d5.14", "resnet34d", speed, unit="img/s", direction="max", digits=0)
    assert text.startswith("d5.14 scores 6354 ± 0 img/s over 2 seeds against resnet34d's 5673 ± 0 img/s")
    # an interval that excludes zero is not a win while the test disagrees (two seeds a side: the bootstrap's
    # interval is the range of the differences)
    assert "undecided (+12.0 %: the 95 % interval +5.0 to +20.0 % excludes zero, but Welch p = 0.2 is not below " \
           "0.05" in text and not VERDICT_WORDS.search(text)
    assert "worse than y" not in compare_sentence("x", "y", speed, direction="min")
    firm = stats(12.0, 5.0, 20.0, p=0.01, ref_mean=5673.0)
    assert compare_sentence("x", "y", firm, direction="min").count("worse than y") == 1


def test_without_a_percent_the_difference_is_in_the_unit():
    row = {k: v for k, v in WIN.items() if not k.startswith("pct")}
    assert difference_phrase(row) == "0.59 mm lower (95 % interval 0.15 to 1.03 mm)"
    assert difference_phrase({"diff": 0.2, "lo": -0.1, "hi": 0.5}) == \
        "no measurable difference (+0.20 mm, 95 % interval -0.10 to +0.50 mm)"
    assert difference_phrase({"diff": math.nan, "lo": math.nan, "hi": math.nan}).startswith("no difference can")


def test_sentences_from_compare_groups():
    win = compare_groups([12.2, 12.4, 12.1], [12.9, 12.85, 12.95], n_boot=2000)
    assert win["verdict"] == "better" and compare_sentence("s", "r", win).endswith("better than r.")
    flat = compare_groups([12.2, 13.4], [12.9, 12.85], n_boot=2000)
    assert "no measurable difference" in compare_sentence("s", "r", flat)
    assert "undecided" in compare_sentence("s", "r", compare_groups([12.2], [12.9, 13.0]))
    paired = compare_groups([12.2, 12.4, 12.1], [12.9, 12.85, 12.95], paired=True, n_boot=2000)
    assert "paired t-test p = " in compare_sentence("s", "r", paired)


def test_controls_yes_no_and_undecided():
    q = "Did the search pick lower-scoring architectures than random draws from the same window?"
    yes = controls_sentence([1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0])
    assert yes.startswith(q + " yes (one-sided Mann-Whitney p = 0.029).")  # 1 / C(7, 3) = 1/35
    assert "3 of 3 searched picks score lower than every control" in yes
    no = controls_sentence([5.0, 6.0, 7.0], [1.0, 2.0, 3.0, 4.0])
    assert no.startswith(q + " no: the random controls score lower (one-sided Mann-Whitney p = 0.029")
    mixed = controls_sentence([1.0, 5.0, 3.0], [4.0, 2.0, 6.0, 7.0])
    assert mixed.startswith(q + " undecided: one-sided Mann-Whitney p = 0.2, not below 0.05.")
    for text in (yes, no, mixed):
        assert not VERDICT_WORDS.search(text)


def test_controls_too_few_to_decide_say_how_many():
    text = controls_sentence([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])  # perfectly separated, yet 1/C(6, 3) = 0.05
    assert "undecided: with 3 searched picks and 3 random controls the smallest one-sided p any ordering can " \
           "give is 0.05" in text and "more controls are needed" in text
    assert "undecided: with 2 searched picks and 1 random control" in controls_sentence([1.0, 2.0], [3.0])
    empty = controls_sentence([1.0, np.nan], [np.nan])  # failed trainings have no score
    assert "undecided: 1 searched pick and 0 random controls have a full score" in empty


def test_controls_with_a_given_p_and_higher_is_better():
    text = controls_sentence([7.0, 8.0, 9.0], [1.0, 2.0, 3.0, 4.0], p=0.012, direction="max", unit="img/s",
                             digits=0, test="permutation test")
    assert text.startswith("Did the search pick higher-scoring architectures than random draws from the same "
                           "window? yes (one-sided permutation test p = 0.012).")
    assert "3 of 3 searched picks score higher than every control" in text
    with pytest.raises(ValueError, match="direction"):
        controls_sentence([1.0], [2.0], direction="lower")


def test_ablation_directions_need_an_interval_off_zero():
    assert ablation_phrase(WIN, paper_delta=-1.3).endswith(": the paper's direction")
    assert ablation_phrase(WIN, paper_delta=+1.3).endswith(": opposite to the paper")
    assert ablation_phrase(LOSS, paper_delta=-1.3).endswith(": opposite to the paper")
    for s in (NOTHING, UNDECIDED):
        assert "paper" not in ablation_phrase(s, paper_delta=-1.3)


@pytest.mark.parametrize("p,text", [(0.0312, "p = 0.031"), (0.19, "p = 0.19"), (0.0004, "p < 0.001"),
                                    (1.0, "p = 1"), (math.nan, "p not defined"), (None, "p not defined")])
def test_fmt_p(p, text):
    assert fmt_p(p) == text
