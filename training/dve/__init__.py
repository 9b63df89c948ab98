"""Dynamic Vision Encoder (SkinFlow section 3.2): FDLinear and the Qwen2.5-VL vision patch."""

from .fdlinear import FDLinear, ModulationBottleneck, default_num_groups, default_rank
from .groups import frequency_groups, group_sizes, half_spectrum_shape
from .params import DVEParameterReport, dve_parameter_report
from .patch import (
    CONFIG_KEY,
    DEFAULT_BLOCKS,
    fd_layers,
    find_vision_tower,
    is_patched,
    load_patched_qwen2_5_vl,
    patch_qwen2_5_vl,
    patch_record,
)

__all__ = [
    "CONFIG_KEY",
    "DEFAULT_BLOCKS",
    "DVEParameterReport",
    "FDLinear",
    "ModulationBottleneck",
    "default_num_groups",
    "default_rank",
    "dve_parameter_report",
    "fd_layers",
    "find_vision_tower",
    "frequency_groups",
    "group_sizes",
    "half_spectrum_shape",
    "is_patched",
    "load_patched_qwen2_5_vl",
    "patch_qwen2_5_vl",
    "patch_record",
]
