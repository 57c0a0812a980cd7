"""The search space: validated at load, sampled into trial configs, gridded, base values."""

from __future__ import annotations

import pytest

from tuneforge.config import config_from_dict
from tuneforge.errors import ConfigError
from tuneforge.tune.space import base_values, config_with, grid, parse_duration, suggest

LEARNING_RATE = {"type": "loguniform", "low": 1e-5, "high": 5e-4}


def with_space(space: dict, **search) -> dict:
    return {"search": {"space": space, **search}}


@pytest.mark.parametrize(
    ("space", "message"),
    [
        (
            {"training.learning_rte": LEARNING_RATE},
            "search.space.training.learning_rte: unknown config key "
            "(did you mean training.learning_rate?)",
        ),
        ({"trainng.epochs": LEARNING_RATE}, "(did you mean training?)"),
        (
            {"training.learning_rate": {"type": "uniform", "low": 0.0, "high": 1e-3}},
            "search.space.training.learning_rate: 0.0 is not a valid value",
        ),
        (
            {"adaptation.method": {"type": "categorical", "choices": ["full", "lorra"]}},
            "search.space.adaptation.method: 'lorra' is not a valid value",
        ),
        ({"training": LEARNING_RATE}, "search.space.training: is a section"),
        ({"output.dir": {"type": "categorical", "choices": ["a"]}}, "cannot be searched"),
        ({"training.learning_rate": {"type": "loguniform", "low": 1e-3}}, "needs low and high"),
        ({"training.epochs": {"type": "int", "low": 3, "high": 1}}, "low (3.0) is above high"),
        ({"training.seed": {"type": "categorical", "choices": []}}, "non-empty list"),
    ],
)
def test_space_is_validated_at_load_with_the_key_named(space: dict, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        config_from_dict(with_space(space))
    assert message in str(error.value)


def test_space_unknown_search_option_suggests_the_key() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown key search.trails \(did you mean search.trials"
    ):
        config_from_dict({"search": {"trails": 3}})


def test_space_trial_config_takes_the_sampled_values() -> None:
    import optuna

    config = config_from_dict(
        with_space(
            {
                "training.learning_rate": LEARNING_RATE,
                "adaptation.method": {"type": "categorical", "choices": ["full", "lora"]},
                "adaptation.lora_rank": {"type": "int", "low": 4, "high": 16, "step": 4},
            }
        )
    )
    fixed = {
        "training.learning_rate": 3e-4,
        "adaptation.method": "lora",
        "adaptation.lora_rank": 12,
    }
    values = suggest(optuna.trial.FixedTrial(fixed), config.search.space)
    trial_config = config_with(config, values)
    assert values == fixed
    assert trial_config.training.learning_rate == 3e-4
    assert trial_config.adaptation.method == "lora"
    assert trial_config.adaptation.lora_rank == 12
    assert trial_config.search.space == {}  # a trial's config is a plain run config
    assert config.training.learning_rate == 5e-5  # the base config is untouched


def test_space_base_values_keep_only_values_inside_the_space() -> None:
    config = config_from_dict(
        {
            "training": {"learning_rate": 1e-4, "batch_size": 32},
            "search": {
                "space": {
                    "training.learning_rate": LEARNING_RATE,
                    "training.batch_size": {"type": "categorical", "choices": [8, 16]},
                    "training.epochs": {"type": "int", "low": 2, "high": 6, "step": 2},
                    "training.warmup_ratio": {"type": "uniform", "low": 0.0, "high": 0.2},
                }
            },
        }
    )
    # batch 32 is not a choice and epochs 3 is off the step-2 grid: the sampler picks those.
    assert base_values(config) == {"training.learning_rate": 1e-4, "training.warmup_ratio": 0.1}


def test_space_grid_lists_choices_and_stepped_ranges() -> None:
    config = config_from_dict(
        with_space(
            {
                "training.epochs": {"type": "int", "low": 1, "high": 5, "step": 2},
                "training.warmup_ratio": {"type": "uniform", "low": 0.0, "high": 0.2, "step": 0.1},
                "adaptation.method": {"type": "categorical", "choices": ["full", "lora"]},
            }
        )
    )
    values = grid(config.search.space)
    assert values["training.epochs"] == [1, 3, 5]
    assert values["training.warmup_ratio"] == pytest.approx([0.0, 0.1, 0.2])
    assert values["adaptation.method"] == ["full", "lora"]


def test_space_grid_refuses_a_continuous_range() -> None:
    config = config_from_dict(with_space({"training.learning_rate": LEARNING_RATE}))
    with pytest.raises(ConfigError, match="grid sampler needs choices or a step"):
        grid(config.search.space)


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90.0), ("90s", 90.0), ("45m", 2700.0), ("2h", 7200.0)]
)
def test_space_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_space_parse_duration_refuses_other_units() -> None:
    with pytest.raises(ConfigError, match="--timeout '2 weeks'"):
        parse_duration("2 weeks")
