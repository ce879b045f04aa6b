"""Tools beside the runtime: the sample generator (`synth`) and the controlled-terminology extract (`ct-extract`)."""
