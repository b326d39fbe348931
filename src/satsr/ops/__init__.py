"""Pure numerical kernels with no I/O: resampling (``resize``), PSF/Wald filters (``filters``), sub-pixel
registration (``registration``) and the 8 flips/rotations of an image (``geometry``). Models, datasets,
trust and evaluation build on them."""
