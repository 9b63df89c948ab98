"""Parameter accounting for a DVE-patched vision tower (works on the meta device)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from torch import nn

from .fdlinear import FDLinear
from .patch import fd_layers, find_vision_tower


@dataclass(frozen=True)
class DVEParameterReport:
    """Parameter counts of a patched vision tower against the same tower unpatched."""

    fd_layers: int
    vision_params_unpatched: int
    vision_params_patched: int
    replaced_linear_params: int  # weight + bias of the nn.Linear layers that were swapped out
    spectrum_params: int  # real + imaginary parts of the half spectra
    bias_params: int
    modulation_params: int  # bottlenecks and heads

    @property
    def extra_params(self) -> int:
        return self.vision_params_patched - self.vision_params_unpatched

    @property
    def overhead(self) -> float:
        """Extra parameters as a fraction of the unpatched vision tower."""
        return self.extra_params / self.vision_params_unpatched

    def as_dict(self) -> dict:
        return {**asdict(self), "extra_params": self.extra_params, "overhead": self.overhead}

    def format(self) -> str:
        return "\n".join(
            [
                f"FDLinear layers:               {self.fd_layers}",
                f"vision tower, unpatched:       {self.vision_params_unpatched:,}",
                f"vision tower, patched:         {self.vision_params_patched:,}",
                f"  replaced nn.Linear params:   {self.replaced_linear_params:,}",
                f"  FDLinear spectra (re+im):    {self.spectrum_params:,}",
                f"  FDLinear biases:             {self.bias_params:,}",
                f"  modulation bottlenecks:      {self.modulation_params:,}",
                f"extra parameters:              {self.extra_params:,} ({100 * self.overhead:.2f} % of the tower)",
            ]
        )


def _numel(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def linear_equivalent_params(layer: FDLinear) -> int:
    """Parameters of the ``nn.Linear`` the layer stands in for."""
    return layer.in_features * layer.out_features + (layer.out_features if layer.bias is not None else 0)


def dve_parameter_report(model: nn.Module) -> DVEParameterReport:
    """Count the patch's parameters in ``model``'s vision tower (a Qwen2.5-VL model or the tower)."""
    tower = find_vision_tower(model)
    layers = fd_layers(tower)
    patched = _numel(tower)
    fd_total = sum(_numel(layer) for layer in layers)
    replaced = sum(linear_equivalent_params(layer) for layer in layers)
    return DVEParameterReport(
        fd_layers=len(layers),
        vision_params_unpatched=patched - fd_total + replaced,
        vision_params_patched=patched,
        replaced_linear_params=replaced,
        spectrum_params=sum(layer.spectrum.numel() for layer in layers),
        bias_params=sum(layer.bias.numel() for layer in layers if layer.bias is not None),
        modulation_params=sum(_numel(layer.modulation) for layer in layers),
    )
