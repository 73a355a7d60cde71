"""Mastering service: the 2D LWRP plan, the streamed mastering chain, the gRPC MasterTrack RPC."""
