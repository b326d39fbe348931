"""Datasets and training-data generators: image folders and random patches (``folders``), the public SR
datasets by name (``base``: samples, splits, the registry; ``pairs``: paired folders, UC Merced-style
class folders, OLI2MSI; ``probav``; ``worldstrat``; ``sen2venus``), draws from their samples for
training (``patches``), the revisit simulator (``revisits``), multi-image training stacks (``stacks``,
``misr_real``) and guided training fields (``guided``). Files are read through ``satsr.io``."""
