"""The S103 sample as another EDC vendor exports it, for the tests of reading by specs: `;`-separated CSV with a
byte-order mark and CRLF line ends, upper-case file and column names, dates as DDMONYYYY (UN/UNK for unknown parts),
numbers with a decimal comma and coded answers (1/0 for Y/N, 1/2 for M/F). Writes the files and the raw contracts
that read them (tests/studies/S103-csv); the study, CT and dataset specs are the sample's (layout.yaml extends them).

    python -m flows.tools.csv_layout [--raw raw] [--specs specs] [--out tests/studies/S103-csv]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import pandas as pd

from flows.spec.model import RawContract
from flows.spec.read import SPECS_DIR, read_specs
from flows.tools.layout_specs import contract_yaml, write_layout

NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
CODES = {"NY": {"1": "Y", "0": "N"}, "SEX": {"1": "M", "2": "F"}}  # the vendor's codes, by the column's codelist
FORMAT = {"type": "csv", "delimiter": ";", "encoding": "utf-8", "decimal": ","}


def ddmonyyyy(iso: str) -> str:
    """An ISO 8601 date, partial date or date-time as DDMONYYYY ('1979-02' -> 'UNFEB1979', '1995' -> 'UNUNK1995',
    '2025-06-17T11:42' -> '17JUN2025 11:42'); empty stays empty."""
    if not iso:
        return iso
    day_part, _, time = iso.partition("T")
    parts = day_part.split("-")
    year, month, day = parts[0], parts[1] if len(parts) > 1 else "", parts[2] if len(parts) > 2 else ""
    written = f"{day or 'UN'}{NAMES[int(month) - 1] if month else 'UNK'}{year}"
    return f"{written} {time}" if time else written


def vendor_name(column: str, contract: RawContract) -> str:
    """The vendor's column name: SITENO and SUBJNO for the subject's identifiers, else the name upper-cased."""
    return {"SITEID": "SITENO", "SUBJID": "SUBJNO"}.get(contract.column(column).role or "", column.upper())


def vendor_file(contract: RawContract) -> str:
    return contract.name.upper() + ".csv"


def write_vendor_file(raw_dir: Path, contract: RawContract, out: Path) -> None:
    frame = pd.read_csv(raw_dir / contract.file, dtype=str, keep_default_na=False)
    for col in contract.columns:
        if col.type in ("date", "partial_date", "datetime"):
            frame[col.name] = frame[col.name].map(ddmonyyyy)
        elif col.type == "float":
            frame[col.name] = frame[col.name].str.replace(".", ",", regex=False)
        elif col.codelist in CODES:
            coded = {value: code for code, value in CODES[col.codelist].items()}
            frame[col.name] = frame[col.name].map(lambda v, c=coded: c.get(v, v))
    frame.columns = [vendor_name(c, contract) for c in frame.columns]
    with (out / vendor_file(contract)).open("w", encoding="utf-8-sig", newline="") as fh:
        frame.to_csv(fh, sep=";", index=False, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)


def vendor_contract(contract: RawContract) -> dict:
    """The sample's contract with the vendor's file, format, column names, date formats and codes."""
    data = contract_yaml(contract, vendor_file(contract), FORMAT)
    for col in data["columns"]:
        col["source"] = vendor_name(col["name"], contract)
        if col["type"] in ("date", "partial_date", "datetime"):
            col["format"] = "DDMONYYYY"
        if col.get("codelist") in CODES:
            col["decode"] = dict(CODES[col["codelist"]])
    return data


def write_csv_layout(raw_dir: Path, specs_dir: Path, out_dir: Path) -> None:
    specs = read_specs(specs_dir)
    (out_dir / "raw").mkdir(parents=True, exist_ok=True)
    for contract in specs.raw.values():
        write_vendor_file(raw_dir, contract, out_dir / "raw")
    write_layout(out_dir / "specs", specs_dir, {c.name: vendor_contract(c) for c in specs.raw.values()})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.tools.csv_layout", description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, default=Path("raw"))
    parser.add_argument("--specs", type=Path, default=SPECS_DIR)
    parser.add_argument("--out", type=Path, default=Path("tests/studies/S103-csv"))
    args = parser.parse_args(argv)
    write_csv_layout(args.raw, args.specs, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
