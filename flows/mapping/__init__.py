"""Mappings as data: each SDTM variable names, in specs/sdtm/<domain>.yaml, the algorithm that derives it.

One module per algorithm (`algorithms/`), named derivation (`derivations/`) and record source (`sources/`), each
a record of `vocabulary` gathered by `registry`; `steps` reads a variable's `map` into steps, `plan` orders them,
`checks` checks every mapping against the specs at load (`load`), `records` builds a dataset's records, `evaluate`
runs a step and `engine` derives the datasets in dependency order; `reference` writes the vocabulary of
specs/README.md from the registry.
"""
