"""The ResNet-'d' space (JMLR section 3.3): four stage depths and widths of a timm ResNet with the deep stem and
average-pool downsampling; registered as `resnet_d` and `resnet_d_bottleneck`."""
from search_spaces.resnet_d.arch import Arch, format_arch, parse_arch
from search_spaces.resnet_d.baselines import BASELINES, PAPER_SEARCHED
from search_spaces.resnet_d.space import ResNetD

__all__ = ["Arch", "format_arch", "parse_arch", "BASELINES", "PAPER_SEARCHED", "ResNetD"]
