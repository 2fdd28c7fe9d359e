"""The ResNet-d space counted as the face task counts budgets (256x256 input, the 6,100-output head), and short
names for the calls the tests make of it through the registry's API."""
from search_spaces.flops import count_flops as fvcore_flops
from search_spaces.resnet_d import BASELINES, PAPER_SEARCHED, Arch, ResNetD, format_arch, parse_arch  # noqa: F401

FACE_OUTPUTS = 6100


def face_space(**options) -> ResNetD:
    """A ResNet-d space with the face head unless `options` say otherwise."""
    return ResNetD(**{"outputs": FACE_OUTPUTS, **options})


SPACE = face_space()


def resolve_arch(spec):
    return SPACE.parse(spec)


def arch_label(arch) -> str:
    return SPACE.label(arch)


def analytic_complexity(arch, res: int = 256, outputs: int = FACE_OUTPUTS):
    return SPACE.complexity(arch, res, outputs)


def analytic_flops(arch, res: int = 256, outputs: int = FACE_OUTPUTS) -> int:
    return SPACE.complexity(arch, res, outputs).flops


def analytic_params(arch, outputs: int = FACE_OUTPUTS) -> int:
    return SPACE.complexity(arch, 32, outputs).params


def count_flops(arch, res: int = 256, outputs: int = FACE_OUTPUTS) -> int:
    return fvcore_flops(SPACE, arch, res, outputs)


def build_model(arch, num_outputs: int, **kwargs):
    return SPACE.build(arch, num_outputs, **kwargs)


def analytic_batch(depths, widths, block: str = "basic", res: int = 256, outputs: int = FACE_OUTPUTS):
    return ResNetD(block=block, res=res, outputs=outputs).batch_complexity(depths, widths)
