"""The fairscribe service: store, fair-share policy, scheduler, workers, engines, socket server."""
