"""Operations beyond deploy: health checks and the post-deploy gate, journald logs, generations and
rollback, reboots. Core code: no Textual; everything talks to hosts through a RemoteShell.
"""
