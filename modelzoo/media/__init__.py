"""Media I/O, probing, face tracking, crops, audio features and paste-back shared by all models."""
