"""The named derivations, one module each defining `DERIVATION`: an Operation named as the module, the study logic a
spec names as `{derivation: name, <inputs>}` where no plain algorithm says it (or, with `record_filter`, a filter of
`records.where`). flows/mapping/registry.py gathers every module of this package."""
