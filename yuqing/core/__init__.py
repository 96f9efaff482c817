"""The records every layer shares, validated at the edges and typed inside.

Owns the mention contract (`mention`), its enriched form (`enriched`), raw
records and dead letters (`records`), analysts' feedback (`feedback`) and
the endpoint specs parsed from the user's flags (`endpoints`).

May import: `yuqing.errors` and the standard library only. Everything else
in `yuqing` may import it.
"""
