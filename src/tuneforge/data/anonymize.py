"""PII anonymisation of loaded records (``data.anonymization``), before anything is written.

English text goes through Presidio (spaCy NER for names and dates, checked patterns for emails,
phones, cards, IBANs, IPs, URLs); Chinese text through the CJK-aware patterns of ``_cjk_pii``;
custom regex recognisers from the config through both. Findings are replaced by one strategy
(redact, mask, replace, pseudonym). The report counts findings per entity type and per source
file and shows examples only as their shape ("Xxxx Xxxxx"), never their value.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from tuneforge.config import AnonymizationConfig
from tuneforge.data._cjk_pii import CJK, CJK_ENTITIES, Finding, find_cjk_pii, find_pattern
from tuneforge.data._presidio import PresidioEngines, load_engines
from tuneforge.data.records import QuarantinedRow, Record
from tuneforge.errors import ConfigError

EXAMPLES_PER_ENTITY = 2
# Tokens of NER data cannot be removed (tags would shift): redact writes this placeholder.
REDACTED_TOKEN = "[REDACTED]"
_PSEUDONYM_HEX = 10
"""40 bits of HMAC-SHA256: a collision needs ~1M distinct values of one type (birthday bound)."""


class Anonymizer:
    """Finds and replaces personal data in texts and token lists; counts what it found."""

    def __init__(self, config: AnonymizationConfig) -> None:
        self.config = config
        self.entities = config.active_entities
        self._salt = _read_salt(config)
        self._custom = [r for r in config.custom_recognizers if r.entity in self.entities]
        self._cjk_entities = [e for e in self.entities if e in CJK_ENTITIES]
        self._engines: PresidioEngines | None = (
            None if config.language == "zh" else load_engines(config, self.entities)
        )
        self.counts: dict[str, Counter[str]] = defaultdict(Counter)
        self.texts: Counter[str] = Counter()
        self.texts_with_pii: Counter[str] = Counter()
        self.examples: list[dict[str, str]] = []

    def find(self, text: str) -> list[Finding]:
        """Non-overlapping findings at or above score_threshold, in text order."""
        threshold = self.config.score_threshold
        language = self.config.language
        found = [] if self._engines is None else self._engines.analyze(text, threshold)
        # auto: mixed texts get both, since the CJK patterns see numbers glued to CJK
        # characters that Presidio's \b-bounded patterns miss.
        if language == "zh" or (language == "auto" and CJK.search(text) is not None):
            # Presidio's \w-based patterns run through CJK characters (an "email" from the
            # sentence start to the @): its findings spanning CJK text are such artefacts.
            found = [f for f in found if not CJK.search(text[f.start : f.end])]
            found += find_cjk_pii(text, self._cjk_entities)
        if self._engines is None:  # Presidio runs the custom recognisers itself otherwise
            for recognizer in self._custom:
                found += find_pattern(
                    text,
                    recognizer.entity,
                    recognizer.pattern,
                    recognizer.score,
                    recognizer.context,
                )
        return _without_overlaps([f for f in found if f.score >= threshold])

    def replacement(self, entity: str, value: str) -> str:
        """What a found ``value`` of type ``entity`` becomes under the configured strategy."""
        strategy = self.config.strategy
        if strategy == "redact":
            return ""
        if strategy == "mask":
            return "".join(c if c.isspace() else self.config.mask_char for c in value)
        if strategy == "replace":
            return f"<{entity}>"
        return pseudonym(entity, value, self._salt)

    def anonymize_text(self, text: str, where: str, source: str) -> str:
        """``text`` with every finding replaced; counted under ``where`` (the source's role)."""
        findings = self.find(text)
        self._count(findings, text, where, source)
        if not findings:
            return text
        if self._engines is not None:
            return self._engines.replace(text, findings, self.replacement)
        pieces, position = [], 0
        for finding in findings:
            value = text[finding.start : finding.end]
            pieces += [text[position : finding.start], self.replacement(finding.entity, value)]
            position = finding.end
        return "".join([*pieces, text[position:]])

    def anonymize_tokens(self, tokens: tuple[str, ...], where: str, source: str) -> tuple[str, ...]:
        """NER tokens, each token touching a finding replaced by the anonymised token itself.

        The token count never changes, so the IOB2 tags stay aligned: a two-token name becomes
        two pseudonyms (each of its own token), two <PERSON> or two masked tokens; redact
        writes REDACTED_TOKEN since an empty token would vanish when the text is re-split.
        """
        text = " ".join(tokens)
        findings = self.find(text)
        self._count(findings, text, where, source)
        if not findings:
            return tokens
        out, start = [], 0
        for token in tokens:
            end = start + len(token)
            hit = next((f for f in findings if f.start < end and start < f.end), None)
            if hit is None:
                out.append(token)
            else:
                new = self.replacement(hit.entity, token)
                out.append(new if new.strip() else REDACTED_TOKEN)
            start = end + 1
        return tuple(out)

    def _count(self, findings: list[Finding], text: str, where: str, source: str) -> None:
        self.texts[where] += 1
        if findings:
            self.texts_with_pii[where] += 1
        for finding in findings:
            self.counts[where][finding.entity] += 1
            shown = sum(1 for e in self.examples if e["entity"] == finding.entity)
            if shown < EXAMPLES_PER_ENTITY:
                value = text[finding.start : finding.end]
                self.examples.append(
                    {
                        "entity": finding.entity,
                        "source": source,
                        "shape": value_shape(value),
                        "replacement": self.replacement(finding.entity, value),
                    }
                )

    def report(self, sources: dict[str, str]) -> dict[str, Any]:
        """The anonymisation report (JSON-able): per source file (role) and entity type."""
        totals: Counter[str] = Counter()
        for counts in self.counts.values():
            totals.update(counts)
        return {
            "strategy": self.config.strategy,
            "language": self.config.language,
            "score_threshold": self.config.score_threshold,
            "entities": self.entities,
            "sources": sources,
            "texts": dict(self.texts),
            "texts_with_pii": dict(self.texts_with_pii),
            "counts": {where: dict(sorted(c.items())) for where, c in self.counts.items()},
            "totals": dict(sorted(totals.items())),
            "examples": self.examples,
        }


def anonymize_records(
    anonymizer: Anonymizer,
    records: list[Record],
    quarantined: list[QuarantinedRow],
    where: str,
) -> tuple[list[Record], list[QuarantinedRow]]:
    """Loaded records and the rows loading set aside, with their personal data replaced."""
    clean = []
    for record in records:
        if record.tokens is not None:
            tokens = anonymizer.anonymize_tokens(record.tokens, where, record.source)
            clean.append(dataclasses.replace(record, tokens=tokens, text=" ".join(tokens)))
        else:
            text = anonymizer.anonymize_text(record.text, where, record.source)
            clean.append(dataclasses.replace(record, text=text))
    rows = [
        dataclasses.replace(row, text=anonymizer.anonymize_text(row.text, where, row.source))
        if row.text
        else row
        for row in quarantined
    ]
    return clean, rows


def pseudonym(entity: str, value: str, salt: bytes) -> str:
    """``<ENTITY_hex>``: HMAC-SHA256 of the value under the secret salt, so the same value gets
    the same token within (and across) datasets with one salt, and nobody without the salt can
    recompute it from a guessed value (a plain hash of a name or phone could be brute-forced)."""
    digest = hmac.new(salt, f"{entity}\x00{value.strip()}".encode(), hashlib.sha256).hexdigest()
    return f"<{entity}_{digest[:_PSEUDONYM_HEX]}>"


def value_shape(value: str) -> str:
    """A value's shape without its content: letters become x/X, digits 9, CJK characters 字."""
    shape = []
    for char in value:
        if CJK.match(char):
            shape.append("字")
        elif char.isdigit():
            shape.append("9")
        elif char.isalpha():
            shape.append("X" if char.isupper() else "x")
        else:
            shape.append(char)
    return "".join(shape)


def _read_salt(config: AnonymizationConfig) -> bytes:
    if config.strategy != "pseudonym":
        return b""
    name = config.salt_env or ""
    salt = os.environ.get(name, "")
    if not salt:
        raise ConfigError(
            f"data.anonymization.salt_env: the environment variable {name} is not set or empty; "
            "strategy pseudonym needs a secret salt there (e.g. export "
            f"{name}=$(openssl rand -hex 32)). It is read from the environment only, never "
            "written to any file."
        )
    return salt.encode()


def _without_overlaps(findings: list[Finding]) -> list[Finding]:
    """Keep the strongest of overlapping findings (higher score, then longer), in text order."""
    kept: list[Finding] = []
    for finding in sorted(findings, key=lambda f: (-f.score, f.start - f.end, f.start)):
        if all(finding.end <= k.start or k.end <= finding.start for k in kept):
            kept.append(finding)
    return sorted(kept, key=lambda f: f.start)


def render_anonymization_report(report: dict[str, Any]) -> Any:
    """The report as rich tables: findings per entity type and source, then masked examples."""
    from rich.console import Group
    from rich.table import Table

    wheres = list(report["texts"])
    counts = Table(
        title=f"PII anonymisation ({report['strategy']}, threshold {report['score_threshold']})"
    )
    counts.add_column("entity type")
    for where in wheres:
        file = report["sources"].get(where, where)
        counts.add_column(f"{where} ({file})", justify="right")
    counts.add_column("total", justify="right")
    for entity, total in report["totals"].items():
        cells = [str(report["counts"].get(w, {}).get(entity, 0)) for w in wheres]
        counts.add_row(entity, *cells, str(total))
    counts.add_row(
        "texts with PII",
        *(f"{report['texts_with_pii'].get(w, 0)} / {report['texts'][w]}" for w in wheres),
        "",
    )
    examples = Table(title="Examples (shapes only, never values)")
    for column in ("entity type", "source", "shape", "replaced by"):
        examples.add_column(column)
    for example in report["examples"]:
        # The file name and line only: sources of built-in data are long installed paths.
        where = Path(example["source"]).name
        examples.add_row(example["entity"], where, example["shape"], example["replacement"])
    return Group(counts, examples) if report["examples"] else counts
