"""Pure numerical kernels with no I/O: resampling (``resize``), PSF/Wald filters (``filters``) and
sub-pixel registration (``registration``). Models, datasets, trust and evaluation build on them."""
