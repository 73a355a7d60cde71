"""First chunks before run-ahead: while any stream is still starting, the streams already playing
render no further ahead of real time than ``lead_s``.

A stream renders as fast as its client reads, and a player's client on a LAN reads far faster than
it plays. In a burst of first plays, the streams that started first would keep the cores rendering
minutes ahead while the others wait for their fallback analysis and first chunk (16 cold plays on
2 cores: the last first chunk after 27 s). Paced to ``lead_s`` ahead, a playing stream still never
starves its listener (it keeps rendering at real time or faster), and every other cycle goes to the
streams not yet playing. Once none is starting, every stream runs at full speed again.

Event-loop only: the counts and the event are touched from coroutines, never from threads.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import suppress

#: How far ahead of real time a playing stream may render while another is starting: more than a
#: player's usual network buffer, and at ~100× real time only about a tenth of a second of work.
PLAYING_LEAD_S = 10.0


class Pacing:
    """How many streams are starting, and the wait that keeps playing streams ``lead_s`` ahead."""

    def __init__(self, lead_s: float = PLAYING_LEAD_S) -> None:
        self.lead_s = lead_s
        self.starting = 0
        self._none_starting = asyncio.Event()
        self._none_starting.set()

    def start(self) -> Start:
        """One stream starting, until its ``Start.done()`` (its first chunk, or its end)."""
        self.starting += 1
        self._none_starting.clear()
        return Start(self)

    def _done(self) -> None:
        self.starting -= 1
        if self.starting == 0:
            self._none_starting.set()

    def holds(self, rendered_s: float, playing_since: float) -> bool:
        """Whether a stream that has rendered ``rendered_s`` of audio since ``playing_since``
        (``time.monotonic()`` at its first chunk) must wait: a stream is starting and this one
        is more than ``lead_s`` ahead of real time."""
        return self.starting > 0 and self._excess_s(rendered_s, playing_since) > 0.0

    async def pace(self, rendered_s: float, playing_since: float) -> None:
        """Wait for as long as ``holds`` says so."""
        while self.holds(rendered_s, playing_since):
            with suppress(TimeoutError):
                await asyncio.wait_for(self._none_starting.wait(),
                                       self._excess_s(rendered_s, playing_since))

    def _excess_s(self, rendered_s: float, playing_since: float) -> float:
        return rendered_s - (time.monotonic() - playing_since) - self.lead_s


class Start:
    """A starting stream's place in the count; ``done()`` may be called more than once."""

    def __init__(self, pacing: Pacing) -> None:
        self._pacing: Pacing | None = pacing

    def done(self) -> None:
        if self._pacing is not None:
            self._pacing._done()
            self._pacing = None
