"""The mapping algorithms, one module each defining `ALGORITHM`: an Operation named as the module (a spec names it as
`{name: args}`). flows/mapping/registry.py gathers every module of this package."""
