"""The model zoo: a registry of published weights and strict loading from folders or the Hub."""
