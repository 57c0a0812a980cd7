"""Side-by-side benchmarks of tuneforge against the bare Hugging Face stack (see README)."""
