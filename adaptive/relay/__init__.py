"""The live NeMo Relay integration: what this package registers on a Relay process."""
