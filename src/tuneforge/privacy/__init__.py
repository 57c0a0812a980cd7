"""Privacy of a trained model: membership-inference audit (audit/)."""
