"""The named record sources, one module each defining `RECORD_SOURCE`: a dataset's records built from the study and
other datasets (`records: {derivation: name}`). flows/mapping/registry.py gathers every module of this package."""
