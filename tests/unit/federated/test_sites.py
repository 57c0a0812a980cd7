"""Sites from one data file each (--sites-from): every site prepared alike, and a validation or
test file named in the config counted once in the federation's splits, not once per site."""

from __future__ import annotations

from pathlib import Path

from _configs import tiny_config, write_bbc_csv

from tuneforge.config import config_from_dict
from tuneforge.federated.sites import sites_from_folder


def test_sites_from_folder_counts_a_shared_test_file_once(tmp_path: Path, bbc_news_dir) -> None:
    sites = tmp_path / "sites"
    write_bbc_csv(sites / "a.csv", bbc_news_dir, per_topic=8, offset=0)
    write_bbc_csv(sites / "b.csv", bbc_news_dir, per_topic=8, offset=8)
    test_file = write_bbc_csv(tmp_path / "test.csv", bbc_news_dir, per_topic=3, offset=40)
    shared = config_from_dict(
        tiny_config(tmp_path, data={"source": str(sites / "a.csv"), "test_source": str(test_file)})
    )
    federation = sites_from_folder(sites, shared)
    assert len(federation.data.records("test")) == 15  # 5 topics x 3 articles, once
    assert len(federation.data.features["test"]) == 15
    assert all(not site.data.records("test") for site in federation.sites)
    # Without a test file each site's own test rows are cut from its file and all are kept.
    own = config_from_dict(tiny_config(tmp_path, data={"source": str(sites / "a.csv")}))
    cut = sites_from_folder(sites, own)
    assert len(cut.data.records("test")) > 0
    assert len(cut.data.records("train")) == sum(len(s.data.records("train")) for s in cut.sites)
