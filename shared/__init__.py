"""Code both services use: audio I/O, loudness, gRPC runtime, config, logging, generated stubs."""
