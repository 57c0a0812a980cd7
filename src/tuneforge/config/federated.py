"""The federated section (`tuneforge federate`): sites, rounds, strategy and client privacy."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from tuneforge.config.base import Section


class FederatedPrivacyConfig(Section):
    """Client-side differential privacy of a federated run (`tuneforge federate`): each site clips
    its update to clipping_norm, the server adds Gaussian noise to their sum (DP-FedAvg, McMahan
    et al. 2018); an RDP accountant reports the spent epsilon per round."""

    clipping_norm: float = Field(1.0, gt=0)
    """l2 bound on one site's update (new minus global trainable parameters) per round."""
    noise_multiplier: float | None = Field(None, gt=0)
    """Noise standard deviation over clipping_norm; None: derived from target_epsilon."""
    target_epsilon: float | None = Field(None, gt=0)
    """The epsilon the whole run may spend (site-level); derives noise_multiplier."""
    delta: float = Field(1e-5, gt=0, lt=1)
    """The delta of the (epsilon, delta) guarantee; below 1 / sites is the usual choice."""

    @model_validator(mode="after")
    def _one_noise_source(self) -> FederatedPrivacyConfig:
        if (self.noise_multiplier is None) == (self.target_epsilon is None):
            raise ValueError("give exactly one of noise_multiplier and target_epsilon")
        return self


class FederatedConfig(Section):
    """Federated fine-tuning (`tuneforge federate`, Flower): sites train the trainable
    parameters on their own data and a server aggregates them, round after round."""

    sites: int = Field(3, ge=2)
    """Number of sites the training data is partitioned into (ignored with --sites-from)."""
    partition: Literal["iid", "dirichlet", "quantity"] = "iid"
    """iid: stratified equal shares; dirichlet: label skew, each class spread over the sites
    by Dirichlet(alpha) shares (Hsu et al. 2019); quantity: site sizes from Dirichlet(alpha),
    labels stratified."""
    alpha: float = Field(0.5, gt=0)
    """Concentration of the dirichlet and quantity partitions: smaller is more skewed."""
    rounds: int = Field(5, ge=1)
    """Federated rounds: the server sends the global parameters, sites train, it aggregates."""
    fraction_fit: float = Field(1.0, gt=0, le=1)
    """Share of the sites sampled to train in each round (at least one)."""
    strategy: Literal["fedavg", "fedprox", "fedadam"] = "fedavg"
    """Flower's aggregation strategy: FedAvg (McMahan et al. 2017), FedProx (Li et al. 2020;
    a proximal term keeps local updates near the global ones) or FedAdam (Reddi et al. 2021)."""
    proximal_mu: float = Field(0.01, ge=0)
    """FedProx: weight of the proximal term mu/2 * ||w - w_global||^2 in each site's loss."""
    server_learning_rate: float = Field(0.01, gt=0)
    """FedAdam: the server optimizer's step size (Flower's eta)."""
    local_epochs: float = Field(1.0, gt=0)
    """Passes over its own training data each site makes per round (replaces training.epochs)."""
    exchange: Literal["adapters", "full"] = "adapters"
    """adapters: only the trainable parameters (LoRA or bottleneck adapters and the head) travel;
    full: every weight of the model."""
    seed: int = 42
    """Seed of the partition and of the server's site sampling."""
    privacy: FederatedPrivacyConfig | None = None
    """Client-side fixed clipping with server noise; None: off."""
    secure_aggregation: bool = False
    """SecAgg+ (Bell et al. 2020): the sites mask their quantised updates so that the server
    learns only their weighted sum. Flower offers it on its legacy workflow only: not with
    client DP nor exchange: full (see docs/guide.md)."""
    secure_aggregation_threshold: float = Field(1.0, gt=0.5, le=1)
    """SecAgg+: the share of a round's sites that must stay to the end for the server to remove
    the masks (Flower's reconstruction_threshold; at least 2 sites). 1.0: every site, so one
    that drops out after the key exchange fails the round. Lower tolerates dropouts (0.67 of 3
    sites: one) and the round aggregates the sites that stayed, but a server colluding with that
    many sites could unmask one site's update. Above half, as SecAgg+ needs against a server
    that tells different sites different stories about who dropped out (Bell et al. 2020)."""

    @model_validator(mode="after")
    def _secure_aggregation_composes(self) -> FederatedConfig:
        if self.secure_aggregation_threshold != 1.0 and not self.secure_aggregation:
            raise ValueError(
                "federated.secure_aggregation_threshold applies to secure aggregation only: set "
                "secure_aggregation: true, or remove the threshold"
            )
        if self.secure_aggregation and self.privacy is not None:
            raise ValueError(
                "federated.secure_aggregation runs on Flower's legacy workflow, and client DP "
                "(federated.privacy) on its Message API strategies; the two cannot be combined "
                "in Flower 1.42: use one or the other"
            )
        if self.secure_aggregation and self.exchange == "full":
            raise ValueError(
                "federated.secure_aggregation clips every exchanged value to +-8 before "
                "quantising it, and a full model's weights reach that (embeddings); use "
                "exchange: adapters"
            )
        return self
