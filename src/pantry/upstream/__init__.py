"""Talking to upstream registries: the pooled HTTP client and the circuit breaker."""
