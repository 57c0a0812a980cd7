"""What a study leaves for people: every trial in a table, the best one, what pruning saved, and
Optuna's own plots (history, parameter importance, parallel coordinates, Pareto front) as PNG
and as interactive HTML."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tuneforge._atomic import write_json_atomic, write_text_atomic
from tuneforge.config import RunConfig, load_config
from tuneforge.console import console
from tuneforge.errors import ConfigError
from tuneforge.tune import layout
from tuneforge.tune.objective import Objective, objective_of


def best_trial(study: Any, objective: Objective) -> Any | None:
    """The completed trial with the best metric (multi-objective: the best metric on the Pareto
    front, so the cost only breaks ties); None when no trial completed."""
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if not complete:
        return None
    candidates = study.best_trials if objective.second else complete
    sign = -1.0 if objective.higher_is_better else 1.0
    return min(candidates, key=lambda t: (sign * t.values[0], *t.values[1:], t.number))


def write_report(
    study: Any, study_dir: Path, objective: Objective, config: RunConfig
) -> dict[str, Any]:
    """summary.json, summary.md and plots/ for the study as it stands."""
    trials = study.get_trials(deepcopy=False)
    rows = [_row(trial, objective) for trial in trials]
    best = best_trial(study, objective)
    base = next((r for r in rows if r["number"] == 0 and r["state"] == "complete"), None)
    summary: dict[str, Any] = {
        "metric": objective.metric,
        "direction": objective.directions[0],
        "second_objective": objective.second,
        "sampler": config.search.sampler,
        "pruner": _pruner_name(config, objective),
        "counts": {
            state: sum(r["state"] == state for r in rows)
            for state in ("complete", "pruned", "fail", "running")
        },
        "pruning": pruning_savings(rows),
        "base_trial": base if config.search.include_base_config else None,
        "best": _row(best, objective) if best is not None else None,
        "trials": rows,
        "plots": write_plots(study, study_dir / layout.PLOTS_DIR, objective),
    }
    write_json_atomic(summary, study_dir / layout.SUMMARY_JSON)
    write_text_atomic(
        render_markdown(summary, list(config.search.space)), study_dir / layout.SUMMARY_MD
    )
    return summary


def pruning_savings(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Seconds spent in pruned trials, and an estimate of the seconds pruning saved: each pruned
    trial would otherwise have run as long as the mean completed trial."""
    complete = [r["seconds"] for r in rows if r["state"] == "complete" and r["seconds"]]
    pruned = [r["seconds"] or 0.0 for r in rows if r["state"] == "pruned"]
    mean = sum(complete) / len(complete) if complete else 0.0
    return {
        "pruned_trials": len(pruned),
        "seconds_in_pruned_trials": sum(pruned),
        "estimated_seconds_saved": max(0.0, sum(mean - s for s in pruned)),
    }


def render_markdown(summary: dict[str, Any], keys: list[str]) -> str:
    metric = summary["metric"]
    second = summary["second_objective"]
    lines = [
        f"# Search: {metric} ({summary['direction']})",
        "",
        f"Sampler {summary['sampler']}, pruner {summary['pruner']}; trials: "
        + ", ".join(f"{count} {state}" for state, count in summary["counts"].items() if count),
        "",
    ]
    best = summary["best"]
    if best is not None:
        lines.append(f"Best: trial {best['number']}, {metric} {best['value']:.4f}")
        base = summary.get("base_trial")
        if base is not None:
            lines.append(f"Base config (trial 0): {metric} {base['value']:.4f}")
        lines.append("")
    saved = summary["pruning"]
    if saved["pruned_trials"]:
        lines += [
            f"Pruning stopped {saved['pruned_trials']} trials; about "
            f"{saved['estimated_seconds_saved']:.0f} s saved.",
            "",
        ]
    header = ["trial", "state", *keys, f"validation {metric}"]
    header += [second] if second else []
    header += ["seconds"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in summary["trials"]:
        cells = [str(row["number"]), row["state"]]
        cells += [_cell(row["params"].get(key)) for key in keys]
        cells.append("" if row["value"] is None else f"{row['value']:.4f}")
        if second:
            cells.append("" if row["second"] is None else f"{row['second']:.4g}")
        cells.append("" if row["seconds"] is None else f"{row['seconds']:.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    plots = summary["plots"]
    if plots["written"]:
        lines += ["", "Plots: " + ", ".join(f"[{name}](plots/{name})" for name in plots["written"])]
    for name, reason in plots["skipped"].items():
        lines.append(f"- {name} not drawn: {reason}")
    return "\n".join(lines) + "\n"


def write_plots(study: Any, folder: Path, objective: Objective) -> dict[str, Any]:
    """Optuna's matplotlib plots as PNG and its plotly plots as HTML (plotly.js written once
    beside them); a plot that cannot be drawn yet (importance needs two completed trials) is
    listed with the reason instead."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna.visualization as interactive
    import optuna.visualization.matplotlib as static

    folder.mkdir(parents=True, exist_ok=True)
    target = (lambda t: t.values[0]) if objective.second else None
    named: dict[str, Any] = {"target_name": objective.metric}
    if target is not None:
        named["target"] = target
    plots: dict[str, tuple[Any, Any, dict[str, Any]]] = {
        "history": (static.plot_optimization_history, interactive.plot_optimization_history, named),
        "importance": (static.plot_param_importances, interactive.plot_param_importances, named),
        "parallel_coordinate": (
            static.plot_parallel_coordinate,
            interactive.plot_parallel_coordinate,
            named,
        ),
    }
    if objective.second:
        names = {"target_names": [objective.metric, objective.second]}
        plots["pareto"] = (static.plot_pareto_front, interactive.plot_pareto_front, names)
    import warnings

    from optuna.exceptions import ExperimentalWarning

    written, skipped = [], {}
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    for name, (draw_png, draw_html, kwargs) in plots.items():
        if len(complete) < 2:
            skipped[name] = "fewer than two completed trials"
            continue
        try:
            with warnings.catch_warnings():
                # The matplotlib plots are marked experimental, and importance warns when few
                # trials make every parameter equally important: the plots say as much.
                warnings.simplefilter("ignore", ExperimentalWarning)
                warnings.simplefilter("ignore", UserWarning)
                axes = draw_png(study, **kwargs)
                interactive_figure = draw_html(study, **kwargs)
            figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
            figure.set_size_inches(9, 5.5)
            figure.tight_layout()
            figure.savefig(folder / f"{name}.png", dpi=110)
            plt.close(figure)
            interactive_figure.write_html(folder / f"{name}.html", include_plotlyjs="directory")
            written += [f"{name}.png", f"{name}.html"]
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:
            skipped[name] = str(exc).splitlines()[0][:200]
    return {"written": written, "skipped": skipped}


def study_report(study_dir: Path) -> dict[str, Any]:
    """`tuneforge tune-report`: rewrite a study's summary and plots from its storage."""
    from tuneforge.tune.study import open_study

    if not (study_dir / layout.STORAGE_FILE).is_file():
        raise ConfigError(f"{study_dir} is not a study folder (no {layout.STORAGE_FILE}).")
    config = load_config(study_dir / layout.CONFIG_FILE)
    objective = objective_of(config)
    previous = _read_json(study_dir / layout.SUMMARY_JSON)
    summary = write_report(open_study(config, study_dir, objective), study_dir, objective, config)
    # The best trial's test metrics come from the run in best/; keep them while it is still best.
    earlier_best = (previous or {}).get("best") or {}
    if summary["best"] is not None and earlier_best.get("number") == summary["best"]["number"]:
        summary["best"]["test"] = earlier_best.get("test")
        write_json_atomic(summary, study_dir / layout.SUMMARY_JSON)
    console.print((study_dir / layout.SUMMARY_MD).read_text(encoding="utf-8"))
    return summary


def _read_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _row(trial: Any, objective: Objective) -> dict[str, Any]:
    values = trial.values or []
    return {
        "number": trial.number,
        "state": trial.state.name.lower(),
        "params": dict(trial.params),
        "value": values[0] if values else None,
        "second": values[1] if len(values) > 1 else None,
        # Ray's trials are recorded after the fact: their own clock, not the storage's.
        "seconds": trial.user_attrs.get("seconds")
        or (trial.duration.total_seconds() if trial.duration else None),
        "validation": trial.user_attrs.get("validation"),
        "last_reported": (
            trial.intermediate_values[max(trial.intermediate_values)]
            if trial.intermediate_values
            else None
        ),
    }


def _pruner_name(config: RunConfig, objective: Objective) -> str:
    if objective.second is not None:
        return "none (multi-objective)"
    if config.search.backend == "ray" and config.search.pruner != "none":
        return "asha (ray)"
    return config.search.pruner


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return "" if value is None else str(value)


def dashboard_app(study_dir: Path) -> Any:
    """Optuna's dashboard (a WSGI app) over a study folder's storage."""
    if not (study_dir / layout.STORAGE_FILE).is_file():
        raise ConfigError(f"{study_dir} is not a study folder (no {layout.STORAGE_FILE}).")
    try:
        from optuna_dashboard import wsgi
    except ImportError as exc:
        from tuneforge.errors import TuneforgeError

        raise TuneforgeError(
            "The dashboard needs optuna-dashboard: pip install 'tuneforge[search-dashboard]'."
        ) from exc
    return wsgi(layout.storage_url(study_dir))
