"""Federated fine-tuning on Flower: sites train the trainable parameters on their own data, a
server aggregates them (FedAvg, FedProx, FedAdam), optionally with client-side DP."""

from tuneforge.federated.run import FederatedResult, federate

__all__ = ["FederatedResult", "federate"]
