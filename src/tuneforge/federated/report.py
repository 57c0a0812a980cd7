"""The federated report: per round the global validation metrics, each site's metrics of the
global model (worst site, spread), bytes exchanged and the privacy spent; a JSON file, a PNG and
a section of the model card."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuneforge._atomic import write_json_atomic
from tuneforge.config import RunConfig
from tuneforge.console import console
from tuneforge.federated.sites import SiteSummary
from tuneforge.run import layout

if TYPE_CHECKING:
    from tuneforge.pipeline import PreparedData

REPORT_FILE = "federated.json"
PLOT_FILE = "federated.png"


def build_report(
    config: RunConfig,
    data: PreparedData,
    sites: Sequence[SiteSummary],
    log: Any,
    *,
    noise_multiplier: float | None,
) -> dict[str, Any]:
    from tuneforge.federated.accounting import epsilon_per_round
    from tuneforge.federated.server import sampled_sites

    federated = config.federated
    metric = config.training.metric_for_best or data.task.default_metric
    epsilons: list[float] | None = None
    if federated.privacy is not None and noise_multiplier is not None:
        rate = sampled_sites(federated, len(sites)) / len(sites)
        epsilons = epsilon_per_round(
            noise_multiplier, federated.privacy.delta, rate, len(log.rounds)
        )
    rounds = []
    for number in sorted(set(log.global_metrics) | set(log.rounds)):
        entry = log.rounds.get(number)
        site_values = (
            {
                sites[index].name: values
                for index, values in sorted(entry.site_metrics.items())
                if values.get(metric) is not None
            }
            if entry
            else {}
        )
        scores = [values[metric] for values in site_values.values()]
        rounds.append(
            {
                "round": number,
                "global": log.global_metrics.get(number, {}),
                "sites": site_values,
                "worst_site": min(scores) if scores else None,
                "site_spread": (max(scores) - min(scores)) if scores else None,
                "trained_sites": [sites[i].name for i in sorted(entry.trained_sites)]
                if entry
                else [],
                "dropped_sites": len(entry.dropped_nodes) if entry else 0,
                "bytes_to_sites": entry.bytes_to_sites if entry else 0,
                "bytes_from_sites": entry.bytes_from_sites if entry else 0,
                "epsilon": epsilons[number - 1] if epsilons and number >= 1 else None,
                "seconds": (
                    log.evaluated_at[number] - log.evaluated_at[number - 1]
                    if number - 1 in log.evaluated_at and number in log.evaluated_at
                    else None
                ),
            }
        )
    return {
        "metric": metric,
        "setup": federated.model_dump(mode="json"),
        "noise_multiplier": noise_multiplier,
        "sites": {
            site.name: {"train": site.train_size, "validation": site.validation_size}
            for site in sites
        },
        "exchanged_tensors": sorted(set().union(*(r.array_names for r in log.rounds.values())))
        if log.rounds
        else [],
        "rounds": rounds,
    }


def save_federated_report(
    run_dir: Path,
    config: RunConfig,
    data: PreparedData,
    sites: Sequence[SiteSummary],
    log: Any,
    *,
    noise_multiplier: float | None,
) -> dict[str, Any]:
    """Write federated.json and federated.png; print the per-round table."""
    report = build_report(config, data, sites, log, noise_multiplier=noise_multiplier)
    write_json_atomic(report, run_dir / REPORT_FILE)
    plot_rounds(report, run_dir / PLOT_FILE)
    console.print(rounds_table(report))
    return report


def rounds_table(report: dict[str, Any]) -> Any:
    from rich.table import Table

    metric = report["metric"]
    private = any(row["epsilon"] is not None for row in report["rounds"])
    table = Table(title=f"federated rounds ({metric})")
    for column in ("round", "global", "worst site", "spread", "MB sent", "MB received"):
        table.add_column(column, justify="right")
    if private:
        table.add_column("epsilon", justify="right")
    dropouts = any(row.get("dropped_sites") for row in report["rounds"])
    if dropouts:
        table.add_column("sites dropped", justify="right")

    def number(value: float | None) -> str:
        return "-" if value is None else f"{value:.4f}"

    for row in report["rounds"]:
        cells = [
            str(row["round"]),
            number(row["global"].get(metric)),
            number(row["worst_site"]),
            number(row["site_spread"]),
            f"{row['bytes_to_sites'] / 1e6:.2f}",
            f"{row['bytes_from_sites'] / 1e6:.2f}",
        ]
        if private:
            cells.append(number(row["epsilon"]))
        if dropouts:
            cells.append(str(row.get("dropped_sites", 0)))
        table.add_row(*cells)
    return table


def plot_rounds(report: dict[str, Any], path: Path) -> Path:
    """Left: the global validation metric, the worst and best site per round; right: bytes sent
    and received per round."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric = report["metric"]
    rows = report["rounds"]
    figure, (scores, traffic) = plt.subplots(1, 2, figsize=(11, 4))
    numbers = [row["round"] for row in rows]
    scores.plot(numbers, [row["global"].get(metric) for row in rows], "o-", label="global")
    site_rows = [row for row in rows if row["sites"]]
    if site_rows:
        x = [row["round"] for row in site_rows]
        best = [max(v[metric] for v in row["sites"].values()) for row in site_rows]
        scores.fill_between(
            x,
            [row["worst_site"] for row in site_rows],
            best,
            alpha=0.2,
            label="sites (worst to best)",
        )
        scores.plot(x, [row["worst_site"] for row in site_rows], "v--", label="worst site")
    scores.set(xlabel="round", ylabel=f"validation {metric}", title="global model per round")
    scores.legend()
    trained = [row for row in rows if row["round"] >= 1]
    x = [row["round"] for row in trained]
    traffic.bar(
        [r - 0.2 for r in x],
        [row["bytes_to_sites"] / 1e6 for row in trained],
        0.4,
        label="to sites",
    )
    traffic.bar(
        [r + 0.2 for r in x],
        [row["bytes_from_sites"] / 1e6 for row in trained],
        0.4,
        label="from sites",
    )
    traffic.set(xlabel="round", ylabel="MB", title="parameters exchanged per round")
    traffic.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def round_history(log: Any) -> list[dict[str, Any]]:
    """The rounds as training-history rows (step = round), so the run's training curves show
    the global validation metrics per round."""
    return [
        {"step": number, "epoch": number, **{f"eval_{k}": v for k, v in metrics.items()}}
        for number, metrics in sorted(log.global_metrics.items())
    ]


def site_origin(config: RunConfig, sites_from: Path | None = None, deployed: bool = False) -> str:
    """Where the sites' data came from, as the model card states it."""
    if deployed:
        return "real sites, each reading its own data file (Flower's deployment runtime)"
    if sites_from is not None:
        return "one data file per site (--sites-from)"
    federated = config.federated
    alpha = f" (alpha {federated.alpha})" if federated.partition != "iid" else ""
    return f"partition of one dataset: {federated.partition}{alpha}"


def append_model_card_section(
    run_dir: Path, config: RunConfig, sites: Sequence[SiteSummary], origin: str
) -> None:
    """State the federated setup in the model card (both copies save_run wrote); `origin` is
    where the sites' data came from (site_origin)."""
    from tuneforge.run.layout import MODEL_DIR

    federated = config.federated
    privacy = federated.privacy
    sizes = ", ".join(f"{site.name} {site.train_size}" for site in sites)
    lines = [
        "",
        "## Federated training",
        f"- Trained with Flower by {len(sites)} sites that never shared their data "
        f"(training rows: {sizes}); sites' data: {origin}",
        f"- {federated.rounds} rounds of {federated.strategy}, {federated.fraction_fit:.0%} of "
        f"the sites per round, {federated.local_epochs} local epoch(s); exchanged: "
        f"{federated.exchange}",
        "- Client differential privacy: "
        + (
            f"updates clipped to {privacy.clipping_norm}, server noise; epsilon per round in "
            f"{REPORT_FILE} (delta {privacy.delta})"
            if privacy
            else "off"
        ),
        "- Secure aggregation: "
        + (
            "SecAgg+ (the server saw only the masked, quantised sum of the sites' parameters; "
            f"{federated.secure_aggregation_threshold:.0%} of a round's sites needed to unmask)"
            if federated.secure_aggregation
            else "off"
        ),
        f"- Per-round and per-site metrics: {REPORT_FILE}, {PLOT_FILE}",
        "",
    ]
    section = "\n".join(lines)
    for card in (run_dir / layout.MODEL_CARD_FILE, run_dir / MODEL_DIR / "README.md"):
        card.write_text(card.read_text(encoding="utf-8") + section, encoding="utf-8")
