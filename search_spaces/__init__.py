"""Search spaces: registered families of backbones as values, exact analytic FLOP counts and budgeted sampling.

    space = create_space("resnet_d", res=256, outputs=6100)   # a registered space, counted as the task says
    window = FlopWindow.below("5G")
    for s in sample_archs(space, window, 16): print(s.arch, s.flops)

`list_spaces()` names the registered spaces; `register_space` adds one (see `search_spaces.base.SearchSpace`).
"""
from search_spaces.base import (Candidates, Complexity, Parameterisation, Sample, SearchSpace, acceptance_rate,
                                check_window, iter_samples, sample_archs)
from search_spaces.budget import FlopWindow, format_flops, parse_budget
from search_spaces.errors import ArchError, BudgetError, EmptyWindowError, SearchSpaceError
from search_spaces.registry import DEFAULT_SPACE, create_space, list_spaces, register_space
from search_spaces import resnet_d  # noqa: F401  (registers resnet_d, resnet_d_bottleneck)
from search_spaces import regnet  # noqa: F401  (registers regnet)

__all__ = [
    "Candidates", "Complexity", "Parameterisation", "Sample", "SearchSpace", "acceptance_rate", "check_window",
    "iter_samples", "sample_archs", "FlopWindow", "format_flops", "parse_budget", "ArchError", "BudgetError",
    "EmptyWindowError", "SearchSpaceError", "DEFAULT_SPACE", "create_space", "list_spaces", "register_space",
]
