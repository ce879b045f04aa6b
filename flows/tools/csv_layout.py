"""The S103 sample as another EDC vendor exports it, for the tests of reading by specs: `;`-separated CSV with a
byte-order mark and CRLF line ends, upper-case file and column names, dates as DDMONYYYY (UN/UNK for unknown parts),
numbers with a decimal comma, coded answers (1/0 for Y/N, 1/2 for M/F), and the assessments as one form per
instrument (MGADL.csv, QMG.csv, MGFA.csv). Writes the files, the raw contracts that read them and the dataset specs
that read the forms (QS from the MG-ADL and the QMG form) into tests/studies/S103-csv; the study, CT and the other
dataset specs are the sample's (layout.yaml extends them).

    python -m flows.tools.csv_layout [--raw raw] [--specs specs] [--out tests/studies/S103-csv]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import pandas as pd

from flows.spec.model import RawContract, Specs
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


def form_name(instrument: str) -> str:
    """A form's contract name from the instrument it holds: 'MG-ADL' -> 'mgadl'."""
    return "".join(ch for ch in instrument.lower() if ch.isalnum())


def forms_of(raw_dir: Path, contract: RawContract) -> dict[str, pd.DataFrame]:
    """The file's rows by form: a file with an INSTRUMENT column is one form per instrument (as an EDC exports each
    CRF page), every other file one form of its own name."""
    frame = pd.read_csv(raw_dir / contract.file, dtype=str, keep_default_na=False)
    instrument = contract.role("INSTRUMENT")
    if instrument is None:
        return {contract.name: frame}
    return {form_name(i): rows for i, rows in frame.groupby(instrument, sort=False)}


def vendor_file(name: str) -> str:
    return name.upper() + ".csv"


def write_vendor_file(frame: pd.DataFrame, contract: RawContract, out: Path) -> None:
    """One form's rows as the vendor writes them (the dialect, DDMONYYYY, decimal comma, codes, its names)."""
    frame = frame.copy()
    for col in contract.columns:
        if col.type in ("date", "partial_date", "datetime"):
            frame[col.name] = frame[col.name].map(ddmonyyyy)
        elif col.type == "float":
            frame[col.name] = frame[col.name].str.replace(".", ",", regex=False)
        elif col.codelist in CODES:
            coded = {value: code for code, value in CODES[col.codelist].items()}
            frame[col.name] = frame[col.name].map(lambda v, c=coded: c.get(v, v))
    frame.columns = [vendor_name(c, contract) for c in frame.columns]
    with out.open("w", encoding="utf-8-sig", newline="") as fh:
        frame.to_csv(fh, sep=";", index=False, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)


def vendor_contract(contract: RawContract, form: str) -> dict:
    """The sample's contract for one form with the vendor's file, format, column names, date formats and codes."""
    data = contract_yaml(contract, vendor_file(form), FORMAT)
    if form != contract.name:
        data["description"] = f"{data['description']}: the {form.upper()} form"
    for col in data["columns"]:
        col["source"] = vendor_name(col["name"], contract)
        if col["type"] in ("date", "partial_date", "datetime"):
            col["format"] = "DDMONYYYY"
        if col.get("codelist") in CODES:
            col["decode"] = dict(CODES[col["codelist"]])
    return data


def split_datasets(specs: Specs, split: dict[str, dict[str, str]]) -> dict[str, str]:
    """The dataset specs that take records from a file split into forms (split: contract -> instrument -> form),
    reading those forms instead: the forms of the instruments its records filter keeps (`where` on the instrument
    column: QS from the MG-ADL and the QMG form, RS from the MGFA form), or every form."""
    out = {}
    for spec in sorted(specs.sdtm.values(), key=lambda s: s.path.name):
        name = (spec.records or {}).get("from")
        if not isinstance(name, str) or name not in split:  # a list of sources names no split file
            continue
        where = spec.records.get("where") or {}
        kept = where.get("in") or ([where["equals"]] if "equals" in where else None)
        on_instrument = where.get("column") == specs.raw[name].role("INSTRUMENT")
        forms = [split[name][i] for i in kept] if kept and on_instrument else list(split[name].values())
        sources = forms[0] if len(forms) == 1 else "[" + ", ".join(forms) + "]"
        text = spec.path.read_text(encoding="utf-8")
        out[spec.path.name] = text.replace(f"from: {name}\n", f"from: {sources}\n", 1)
    return out


def write_csv_layout(raw_dir: Path, specs_dir: Path, out_dir: Path) -> None:
    specs = read_specs(specs_dir)
    (out_dir / "raw").mkdir(parents=True, exist_ok=True)
    contracts, split = {}, {}
    for contract in specs.raw.values():
        forms = forms_of(raw_dir, contract)
        for form, frame in forms.items():
            write_vendor_file(frame, contract, out_dir / "raw" / vendor_file(form))
            contracts[form] = vendor_contract(contract, form)
        if list(forms) != [contract.name]:
            column = contract.role("INSTRUMENT")
            split[contract.name] = {frame[column].iloc[0]: form for form, frame in forms.items()}
    write_layout(out_dir / "specs", specs_dir, contracts, split_datasets(specs, split))


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
