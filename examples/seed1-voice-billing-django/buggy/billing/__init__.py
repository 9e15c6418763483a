"""Post-call billing: plans, subscriptions and call usage."""
