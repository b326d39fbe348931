"""Datasets and training-data generators: image folders and random patches (``folders``), the PROBA-V
challenge (``probav``), the revisit simulator (``revisits``), multi-image training stacks (``stacks``,
``misr_real``) and guided training fields (``guided``). Files are read through ``satsr.io``."""
