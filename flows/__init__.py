"""S103 SDTM export pipeline: raw EDC exports of trial CART-20250321 to validated CDISC SDTM transfers."""

__version__ = "0.1.0"
