"""Learning out of process: completed runs published to a Redis Stream, learned by workers.

``publisher.py`` (the agent side, a drain sink), ``worker.py`` and
``service.py`` (``adaptive worker``), ``stream.py`` (every Redis command, the
trimming rule), ``entry.py`` (the entry format), ``notify.py`` (commit
notices that keep agents' hot caches current), ``url.py`` (transport URLs).
"""
