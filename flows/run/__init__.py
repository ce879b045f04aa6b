"""One export from start to publish: the ordered steps, the study lock, signals, progress and the fingerprint that
tells an unchanged run."""
