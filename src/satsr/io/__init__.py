"""Reading and writing images: georeferenced rasters (``raster``) and plain images (``image``)."""
