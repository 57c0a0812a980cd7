"""The data stage: load, anonymise, clean, split and describe (``prepare_dataset`` runs it all)."""

from tuneforge.data.anonymize import render_anonymization_report
from tuneforge.data.builtin import BUILTIN_DATASETS, resolve_builtin
from tuneforge.data.clean import clean_records
from tuneforge.data.load import load_records
from tuneforge.data.prepare import prepare_dataset
from tuneforge.data.quarantine import read_quarantine, write_quarantine
from tuneforge.data.records import QuarantinedRow, Record, Splits
from tuneforge.data.report import build_data_report, render_data_report
from tuneforge.data.split import split_records

__all__ = [
    "BUILTIN_DATASETS",
    "QuarantinedRow",
    "Record",
    "Splits",
    "build_data_report",
    "clean_records",
    "load_records",
    "prepare_dataset",
    "read_quarantine",
    "render_anonymization_report",
    "render_data_report",
    "resolve_builtin",
    "split_records",
    "write_quarantine",
]
