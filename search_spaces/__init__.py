"""Search space: ResNet-'d' architectures as values, exact FLOP counts and budgeted sampling."""
from search_spaces.arch import Arch, format_arch, parse_arch
from search_spaces.baselines import BASELINES, PAPER_SEARCHED, arch_label, baseline_name, resolve_arch
from search_spaces.budget import FlopWindow, format_flops, parse_budget
from search_spaces.errors import ArchError, BudgetError, EmptyWindowError, SearchSpaceError
from search_spaces.flops import analytic_batch, analytic_complexity, analytic_flops, analytic_params, count_flops
from search_spaces.model import JMLR_OUTPUTS, build_model
from search_spaces.sampler import Sample, SearchSpace, iter_samples, sample_archs

__all__ = [
    "Arch", "format_arch", "parse_arch", "BASELINES", "PAPER_SEARCHED", "arch_label", "baseline_name",
    "resolve_arch", "FlopWindow", "format_flops", "parse_budget", "ArchError", "BudgetError",
    "EmptyWindowError", "SearchSpaceError", "analytic_batch", "analytic_complexity", "analytic_flops",
    "analytic_params", "count_flops", "JMLR_OUTPUTS", "build_model", "Sample", "SearchSpace",
    "iter_samples", "sample_archs",
]
