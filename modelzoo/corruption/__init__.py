"""Corruption of audio and video: noise at an exact SNR, visual noise, blur and lip occlusion."""
