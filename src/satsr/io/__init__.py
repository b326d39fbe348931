"""The only room that opens files: rasters (``raster``: windows, profiles, atomic writers, the GDAL
environment), plain images (``image``: the one image reader), revisit stacks (``stack``), PROBA-V
image sets (``probav``) and Sentinel-2 band folders (``sentinel2``)."""
