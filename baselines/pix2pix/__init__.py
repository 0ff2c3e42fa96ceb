"""pix2pix (Isola et al. 2017) for Easel's paired tracks."""
