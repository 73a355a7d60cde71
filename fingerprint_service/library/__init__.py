"""The library (SPEC section 11): scans, tags, albums and album loudness, similar tracks.

One idea per module: ``tags`` (read-only mutagen), ``albums`` (what an album is),
``album_loudness`` (pooled BS.1770 gating, LRA, ReplayGain 2.0), ``similarity`` (the weighted
25D index, SimilarTracks and SonicPath), ``walker`` (which files a scan sees, and sharding) and
``scan`` (the incremental, resumable scan around the store and the worker pool).
"""
