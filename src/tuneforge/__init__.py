"""tuneforge."""
