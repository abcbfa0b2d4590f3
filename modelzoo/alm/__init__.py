"""Audio-Lip Memory (SyncTalkFace, arXiv 2211.00924): model, training and checkpoint conversion."""
