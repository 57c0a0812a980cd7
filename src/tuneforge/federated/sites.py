"""The sites of a federated run: each one's training and validation data, prepared like a normal
run's and encoded with one label set.

Two sources: partitions of one dataset (experiments: `federated.partition`), or one data file
per site (`--sites-from DIR`), each cleaned, anonymised and split by the same data section.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from tuneforge.config import RunConfig
from tuneforge.data import build_data_report
from tuneforge.data.quarantine import reason_category
from tuneforge.data.records import Splits
from tuneforge.data.split import stratify_keys
from tuneforge.errors import ConfigError
from tuneforge.federated.partition import draw_shares, partition_indices
from tuneforge.pipeline import PreparedData, prepare_data

# The data formats a site file may have (a folder of <label>/*.txt is one site too).
_SITE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".parquet", ".conll")


@dataclass
class Site:
    name: str
    """The partition number (site-0, ...) or the site file's name."""
    data: PreparedData
    """This site's training and validation rows (no test rows: the test split is scored once,
    centrally, on the final model)."""

    @property
    def train_size(self) -> int:
        return len(self.data.features["train"])

    @property
    def validation_size(self) -> int:
        return len(self.data.features["validation"])

    def summary(self) -> SiteSummary:
        return SiteSummary(self.name, self.train_size, self.validation_size)


@dataclass(frozen=True)
class SiteSummary:
    """What the server and the report know of a site: its name and row counts (a deployed
    site's data never leaves it; it reports these with each reply)."""

    name: str
    train_size: int
    validation_size: int


@dataclass
class Federation:
    data: PreparedData
    """The whole: every site's validation rows (the global validation metric) and test rows."""
    sites: list[Site]


def partition_sites(data: PreparedData, config: RunConfig) -> Federation:
    """Cut the prepared training and validation splits into `federated.sites` sites.

    The same skew applies to a site's training and validation rows (one draw of shares), so a
    site's validation accuracy is measured on data like its own.
    """
    federated = config.federated
    kind = config.task.label_kind
    train_keys = stratify_keys(data.records("train"), kind)
    validation_keys = stratify_keys(data.records("validation"), kind)
    shares = draw_shares(
        train_keys + validation_keys,
        federated.sites,
        federated.partition,
        alpha=federated.alpha,
        seed=federated.seed,
    )
    train = partition_indices(train_keys, shares, seed=federated.seed)
    validation = partition_indices(
        validation_keys, shares, seed=federated.seed + 1, every_site_nonempty=False
    )
    sites = [
        Site(f"site-{number}", subset(data, train[number], validation[number]))
        for number in range(federated.sites)
    ]
    return Federation(data, sites)


def sites_from_folder(folder: Path, config: RunConfig) -> Federation:
    """One site per data file in `folder` (sorted by name), each prepared with the config's data
    section and one label set: data.labels, or the first site's labels.

    Raises:
        ConfigError: no site files, fewer than 2, or a site with a label outside the set.
    """
    files = (
        sorted(
            path
            for path in folder.iterdir()
            if path.suffix.lower() in _SITE_SUFFIXES
            or (path.is_dir() and not path.name.startswith("."))
        )
        if folder.is_dir()
        else []
    )
    if len(files) < 2:
        raise ConfigError(
            f"--sites-from {folder}: a federation needs at least 2 site files "
            f"({', '.join(_SITE_SUFFIXES)} or a folder of <label>/*.txt); found {len(files)}."
        )
    labels = config.data.labels
    sites: list[Site] = []
    for path in files:
        site = prepare_site(path, config, labels)
        labels = labels or site.data.names
        sites.append(site)
    whole = _union(sites, config)
    # The test rows stay with the whole; sites train and validate on theirs only.
    return Federation(
        whole, [Site(site.name, subset(site.data, None, None, test=False)) for site in sites]
    )


def prepare_site(path: Path, config: RunConfig, labels: list[str] | None) -> Site:
    """One site's data file prepared with the config's data section (cleaning, anonymisation,
    splitting) and the label set `labels` (None: the file's own).

    Raises:
        ConfigError: a label outside `labels`.
        DataError: the file cannot be read or is unusable.
    """
    site_config = config.model_copy(deep=True)
    site_config.data.source = str(path.resolve())
    site_config.data.labels = labels
    data = prepare_data(site_config)
    unknown = sorted(
        {
            str(row.label)
            for row in data.splits.quarantined
            if reason_category(row.reason) == "undeclared label"
        }
    )
    if unknown:
        raise ConfigError(
            f"site {path.name}: label(s) {', '.join(unknown)} are not in the federation's "
            f"label set ({', '.join(labels or [])}); every site must use the same labels "
            "(declare them in data.labels)."
        )
    return Site(path.name, data)


def deployed_site(config: RunConfig, name: str) -> Site:
    """A deployed site: data.source (its one file) prepared with data.labels, without test
    rows (the coordinator scores the final model on its own)."""
    site = prepare_site(Path(config.data.source), config, config.data.labels)
    return Site(name, subset(site.data, None, None))


def subset(
    data: PreparedData,
    train: list[int] | None,
    validation: list[int] | None,
    *,
    test: bool = False,
) -> PreparedData:
    """`data` with only the given training and validation rows (None: all of them) and, unless
    `test`, no test rows."""

    def pick(split: str, indices: list[int] | None) -> tuple[list, list]:
        records, features = data.records(split), data.features[split]
        if indices is None:
            return list(records), list(features)
        return [records[i] for i in indices], [features[i] for i in indices]

    train_records, train_features = pick("train", train)
    validation_records, validation_features = pick("validation", validation)
    test_records, test_features = pick("test", None) if test else ([], [])
    return dataclasses.replace(
        data,
        splits=Splits(train_records, validation_records, test_records),
        features={
            "train": train_features,
            "validation": validation_features,
            "test": test_features,
        },
        report={},
    )


def _union(sites: list[Site], config: RunConfig) -> PreparedData:
    """All sites' rows together (the first site's tokenizer and label set; they agree). A
    validation or test file named in the config (data.validation_source, data.test_source) is
    every site's split: it counts once, not once per site."""
    first = sites[0].data
    shared = {
        "train": False,
        "validation": config.data.validation_source is not None,
        "test": config.data.test_source is not None,
    }

    def holders(split: str) -> list[Site]:
        return sites[:1] if shared[split] else sites

    splits = Splits(
        *(
            [record for site in holders(split) for record in site.data.records(split)]
            for split in ("train", "validation", "test")
        ),
        quarantined=[row for site in sites for row in site.data.splits.quarantined],
    )
    features = {
        split: [feature for site in holders(split) for feature in site.data.features[split]]
        for split in ("train", "validation", "test")
    }
    report = build_data_report(
        splits, first.tokenizer, config.model.max_seq_length, config.task.type
    )
    return dataclasses.replace(first, splits=splits, features=features, report=report)
