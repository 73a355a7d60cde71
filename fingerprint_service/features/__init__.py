"""The 25 fingerprint dimensions of SPEC section 4, one module per group.

- ``frames``: streaming STFT of the mono mix (the analysis frames everything spectral uses)
- ``spectral``: band shares, bass/mid ratio, centroid, rolloff, flatness
- ``dynamics``: crest, silence ratio, crest variation, loudness variation, peak consistency
- ``rhythm``: tempo, rhythm stability, transient density
- ``tonal``: harmonic ratio, pitch stability, chroma energy
- ``stereo``: stereo width, phase correlation

Each module pairs pure functions (arrays in, plain numbers out) with a small accumulator that
collects, block by block, the compact data those functions need.
"""
