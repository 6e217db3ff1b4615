"""Published numbers maskstats is checked against, each with its citation, and the tables that
set maskstats' statistics beside them: MAE's mask-sampling ablation (its Table 1(f)), SimMIM's
moderate AvgDist band, BEiT's pretraining preset and I-JEPA's ImageNet mask settings.

The numbers here are copied from the papers and the peers' own code (cited on each constant);
nothing in this module is fitted to them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SamplingResult:
    """One row of MAE's mask-sampling ablation.

    Attributes:
        strategy: maskstats' name of the sampling ("random", "block", "grid").
        mask_ratio: the ratio MAE trained with.
        fine_tune: end-to-end fine-tuning top-1 on ImageNet-1k, %.
        linear: linear-probing top-1 on ImageNet-1k, %.
    """

    strategy: str
    mask_ratio: float
    fine_tune: float
    linear: float

    @property
    def name(self) -> str:
        """'random 0.75', 'block 0.5', ..."""
        return f"{self.strategy} {self.mask_ratio:g}"


MAE_CITATION = (
    "He, Chen, Xie, Li, Dollár, Girshick: Masked Autoencoders Are Scalable Vision Learners, "
    "CVPR 2022 (arXiv 2111.06377), Table 1(f): ViT-L/16, 800 epochs of pretraining on "
    "ImageNet-1k, top-1 accuracy in %"
)
MAE_SAMPLING_ABLATION = (
    SamplingResult("random", 0.75, 84.9, 73.5),
    SamplingResult("block", 0.5, 83.9, 72.3),
    SamplingResult("block", 0.75, 82.8, 63.9),
    SamplingResult("grid", 0.75, 84.0, 66.0),
)
"""MAE's Table 1(f) (see ``MAE_CITATION``). The paper's text: block masking at 50% works
reasonably, at 75% it degrades and has a higher training loss; grid sampling has a lower
training loss and sharper reconstructions but worse representations."""

SIMMIM_CITATION = (
    "Xie et al.: SimMIM: A Simple Framework for Masked Image Modeling, CVPR 2022 "
    "(arXiv 2111.09886), its study of masking strategies: masks with a moderate AvgDist, "
    "10 to 20 px, fine-tune best"
)
SIMMIM_MODERATE_BAND = (10.0, 20.0)
"""SimMIM's 'moderate' AvgDist band in pixels (see ``SIMMIM_CITATION``)."""

BEIT_CITATION = (
    "Bao, Dong, Piao, Wei: BEiT: BERT Pre-Training of Image Transformers, ICLR 2022; "
    "microsoft/unilm beit/run_beit_pretraining.py (--num_mask_patches 75, "
    "--min_mask_patches_per_block 16, --max_mask_patches_per_block None) and "
    "beit/masking_generator.py (class defaults min_num_patches=4, min_aspect=0.3)"
)
BEIT_PRETRAINING = {"input_size": 14, "num_masking_patches": 75, "min_num_patches": 16}
"""BEiT's own pretraining masks at 224/16: ``MaskingGenerator(input_size=14,
num_masking_patches=75, min_num_patches=16)`` (max_num_patches None = 75, aspect 0.3 to 1/0.3).
In maskstats: ``block_masks(n, 14, num_masking_patches=75, min_num_patches=16)``."""

IJEPA_CITATION = (
    "Assran et al.: Self-Supervised Learning from Images with a Joint-Embedding Predictive "
    "Architecture, CVPR 2023; facebookresearch/ijepa configs/in1k_vith14_ep300.yaml and "
    "src/masks/multiblock.py (MaskCollator)"
)
IJEPA_IN1K = {
    "batch_size": 128,
    "enc_mask_scale": (0.85, 1.0),
    "pred_mask_scale": (0.15, 0.2),
    "aspect_ratio": (0.75, 1.5),
    "nenc": 1,
    "npred": 4,
    "min_keep": 10,
}
"""I-JEPA's ImageNet-1k mask settings (see ``IJEPA_CITATION``): the batch is per GPU (the
collator sees 128 images; 2048 over 16 GPUs), with ViT-H/14 at 224 px (a 16 x 16 grid)."""
