"""replay-encoder: decodes uploaded match replays and renders highlight clips."""

import logging
import os

log = logging.getLogger("replay-encoder")

MAX_PAYLOAD_BYTES = int(os.environ.get("MAX_PAYLOAD_BYTES", "0"))  # 0: no limit


class PayloadTooLarge(Exception):
    pass


class ReplayDecoder:
    """Decodes a replay fully in memory: memory use is about 6x the payload size."""

    def __init__(self, storage):
        self.storage = storage

    def fetch(self, match_id: str) -> bytes:
        payload = self.storage.get(f"replays/{match_id}.rpl")
        log.info("fetched replay payload_bytes=%d match_id=%s", len(payload), match_id)
        return payload

    def decode(self, match_id: str):
        payload = self.fetch(match_id)
        if MAX_PAYLOAD_BYTES and len(payload) > MAX_PAYLOAD_BYTES:
            raise PayloadTooLarge(f"payload_bytes={len(payload)} match_id={match_id}")
        frames = self._inflate(payload)
        return [self._parse_frame(f) for f in frames]

    def _inflate(self, payload: bytes):
        import zlib

        data = zlib.decompress(payload) if payload[:2] == b"\x78\x9c" else payload
        return [data[i : i + 4096] for i in range(0, len(data), 4096)]

    def _parse_frame(self, frame: bytes):
        return {"tick": int.from_bytes(frame[:4], "little"), "events": frame[4:]}


def handle_job(job, decoder: ReplayDecoder, renderer):
    """Worker entry point: one replay per job; an exception requeues the job."""
    frames = decoder.decode(job["match_id"])
    clip = renderer.render(frames, highlights=job.get("highlights", []))
    renderer.upload(job["match_id"], clip)
