"""The replica runtime every worker kind runs on: the consume loop, Kafka clients, settings,
HTTP health and metrics, lifetime, failures and backoff, dead letters, clocks and ids."""
