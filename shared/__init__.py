"""What the fairscribe daemon and its clients agree on: protocol, framing, client, config, CLI."""
