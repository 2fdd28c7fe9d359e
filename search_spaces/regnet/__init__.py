"""The RegNet design space (RegNetX/Y, "Designing Network Design Spaces") on timm's `RegNet`; registered as
`regnet`."""
from search_spaces.regnet.arch import Arch, format_arch, parse_arch
from search_spaces.regnet.baselines import BASELINES
from search_spaces.regnet.space import RegNet

__all__ = ["Arch", "format_arch", "parse_arch", "BASELINES", "RegNet"]
