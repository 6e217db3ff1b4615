"""MAE pretraining that acts on difficulty (imports torch)."""

from maskstats.mae.model import CONFIGS, MAEConfig, MaskedAutoencoderViT, create_model

__all__ = ["CONFIGS", "MAEConfig", "MaskedAutoencoderViT", "create_model"]
