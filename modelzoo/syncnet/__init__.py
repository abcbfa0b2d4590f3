"""The SyncNet lip-sync critic: the model (`model.py`) and its trainer (`train.py`)."""

from modelzoo.syncnet.model import CONFIGS, SyncNet, SyncNetConfig, cosine_bce, sync_loss

__all__ = ["CONFIGS", "SyncNet", "SyncNetConfig", "cosine_bce", "sync_loss"]
