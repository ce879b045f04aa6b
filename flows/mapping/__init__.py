"""Mappings as data: each SDTM variable names, in specs/sdtm/<domain>.yaml, the algorithm that derives it.

`vocabulary` holds the algorithms (short, pure, vectorised functions), `derivations` the named derivations that
carry real study logic, `steps` reads a variable's `map` into steps with declared inputs, `checks` checks every
mapping against the specs at load, and `engine` derives the datasets in dependency order.
"""
