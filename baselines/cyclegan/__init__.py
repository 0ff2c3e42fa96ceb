"""CycleGAN (Zhu et al. 2017) for Easel's unpaired tracks."""
