"""The pipeline's own exceptions: each carries a one-line message meant for the person running it."""


class PipelineError(Exception):
    """Base class: the message is one line and names file, key, line or column as far as known."""

    exit_code = 2


class SpecError(PipelineError):
    """A specification under specs/ is broken or inconsistent."""


class StructuralError(PipelineError):
    """A raw file cannot be read as a whole: missing, empty, undecodable or lacking columns."""


class OutputCheckError(PipelineError):
    """A derived dataset does not conform to its SDTM spec: a bug in the pipeline, never published."""
