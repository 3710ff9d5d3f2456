"""kaobot on Discord: a thin adapter over `recognition.Recognizer`.

- `runner`: the composition root (`run_bot`): builds every resource, owns its lifetime.
- `client`: `Kaobot` (receives `Services`), the command tree whose `on_error` answers every failure.
- `cogs/`: one extension per feature (whois + "Who is this?", enroll, admin, watch, owner sync).
- `guards`, `sources`, `fetch`, `limits`: checks before work; Discord-only downloads; cooldowns and
  the bounded work queue. `replies`, `views`: what is sent. `errors`: the error layer.
  `watchlist`: watched channels on disk. `logs`: token redaction. `cli`: `kaobot bot`.

Nothing is imported here, so `kaobot` subcommands other than `bot` never load discord.py.
"""
