"""FLOP budgets and the window below them."""
import pytest

from search_spaces import BudgetError, FlopWindow, parse_budget


@pytest.mark.parametrize("text,flops", [
    ("5G", 5_000_000_000), ("5.12G", 5_120_000_000), ("500M", 500_000_000), ("5e9", 5_000_000_000),
    ("5GF", 5_000_000_000), ("5g", 5_000_000_000), ("5gf", 5_000_000_000), ("500m", 500_000_000),
    (" 5G ", 5_000_000_000), ("2.5E9", 2_500_000_000), ("1T", 10**12), ("750K", 750_000),
    ("5GFLOPs", 5_000_000_000), (".5G", 500_000_000), (5e9, 5_000_000_000),
])
def test_parse_budget(text, flops):
    assert parse_budget(text) == flops


@pytest.mark.parametrize("text", ["", "G", "5X", "5GG", "five", "-5G", "0G", "0", "5 G F x", "nan", "inf",
                                  "1e-3", "5.G", "5G5", "--budget", "5MB"])
def test_bad_budget_raises(text):
    with pytest.raises(BudgetError):
        parse_budget(text)


def test_window_below_budget():
    window = FlopWindow.below("5G", tol=0.05)
    assert (window.low, window.high) == (4_750_000_000, 5_000_000_000)
    assert 4_750_000_000 in window and 5_000_000_000 in window
    assert 4_749_999_999 not in window and 5_000_000_001 not in window


@pytest.mark.parametrize("tol", [0, 1, -0.1, 1.5, float("nan")])
def test_bad_tolerance_raises(tol):
    with pytest.raises(BudgetError):
        FlopWindow.below("5G", tol=tol)
