"""ranking-recompute: the nightly CronJob (02:00 UTC) that rebuilds season rankings."""

import logging
import time

log = logging.getLogger("ranking-recompute")


def fetch_scores(conn, season_id):
    """Reads every score of the season. Scans season_scores; after a season reset the table
    doubles, and so does the runtime (usually 25 minutes on prod-game-db)."""
    with conn.cursor(name="scores") as cur:
        cur.itersize = 50_000
        cur.execute(
            "SELECT player_id, score FROM season_scores WHERE season_id = %s ORDER BY score DESC",
            (season_id,),
        )
        yield from cur


def write_rankings(conn, season_id, ranked):
    with conn.cursor() as cur:
        cur.execute("DELETE FROM season_rankings WHERE season_id = %s", (season_id,))
        cur.executemany(
            "INSERT INTO season_rankings (season_id, rank, player_id, score) VALUES (%s, %s, %s, %s)",
            [(season_id, i + 1, p, s) for i, (p, s) in enumerate(ranked)],
        )


def main(conn, season_id):
    started = time.monotonic()
    ranked = list(fetch_scores(conn, season_id))
    write_rankings(conn, season_id, ranked)
    conn.commit()
    log.info("recomputed %d rankings in %.0f s", len(ranked), time.monotonic() - started)
